"""Product events in: the tracking SDK an app calls (`sdk.py`), the HTTP collector that validates
events against their definitions and pseudonymizes them (`app.py` in front of `service.py`, with
`validation.py`, `pseudonymize.py`, `useragents.py`, `ratelimit.py`, `writer.py`, `selfmetrics.py`),
and the sinks that store them where the `events` reader reads them (`sinks.py` holds the
stored-event contract every sink follows; `sql_sink.py` is the SQL one).

May import: `errors`, `window`, `files`, `config`, `dictionary`, `store` (the events tables),
`readers.common.retry`. The SDK module imports nothing heavy: it runs inside the host application.
"""
