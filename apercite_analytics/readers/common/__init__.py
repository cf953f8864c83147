"""What several readers share, written once: the `sources` service (database engines with
timeouts and retries), the one retry helper (databases, HTTP, GA), HTTP credentials, metric-name
parts and templates, period dims, and table reflection.

May import: `errors`, `window`, `record`, `config`. Never the store.
"""
