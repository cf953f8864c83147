"""Product events in: the tracking SDK an app calls, the HTTP collector that validates events
against their definitions and pseudonymizes them, and the sinks that store them where the
`events` reader reads them (`sinks.py` holds the stored-event contract every sink follows).

May import: `errors`, `window`, `config`, `dictionary`, `store` (the SQL sink's table). The SDK
module imports nothing heavy: it runs inside the host application.
"""
