"""The metric store: its tables (models.py, migrations/), its schema state (schema.py), and the
one `Store` object a run talks to (handle.py) for values (values.py and its COPY/executemany
fast path bulk.py), watermarks, the run log, locks and rollups; the read-only role for Grafana.

May import: `errors`, `window`, `record`, `config`, `dictionary.definitions` (types only).
Never a reader.
"""
