"""The metrics dictionary: definitions in YAML (definitions.py), synced into the store's
`metric_definition` table (sync.py), read back for `metrics list/show` (queries.py), turned into
daily values (rollup.py) and exported as nested JSON (export.py).

May import: `errors`, `window`, `record`, `config`, `store.schema`, `store.models`.
"""
