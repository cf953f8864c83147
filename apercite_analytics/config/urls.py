"""Database URLs as users write them, with the drivers we ship.

`postgresql://` means psycopg2 (our dependency; SQLAlchemy 2.1 would otherwise pick psycopg 3),
`mysql://` and `mariadb://` mean PyMySQL (the `mysql` extra), `clickhouse://` means clickhouse-connect's
HTTP client (the `clickhouse` extra). An explicit `+driver` is kept.
"""

from sqlalchemy.engine import URL, make_url

from apercite_analytics.config.secrets import mask_url

DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "clickhouse": "clickhousedb",
}
DRIVER_EXTRAS = {  # driver module → the extra of ours that installs it
    "pymysql": "mysql",
    "duckdb": "duckdb",
    "duckdb_engine": "duckdb",
    "clickhouse_connect": "clickhouse",
    "chdb": "chdb",
}


def database_url(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    return parsed


def display_url(url: str | URL) -> str:
    """The URL as the user wrote it (our default driver left out), password masked."""
    parsed = make_url(url)
    for plain, driver in DEFAULT_DRIVERS.items():
        if parsed.drivername == driver:
            parsed = parsed.set(drivername=plain)
    return mask_url(parsed.render_as_string(hide_password=True))


def missing_driver(exc: ImportError) -> str:
    """`No module named 'pymysql'` → what to install: our extra when one ships the driver."""
    module = (exc.name or "").split(".")[0]
    extra = DRIVER_EXTRAS.get(module)
    if extra:
        return f"the database driver {module} is not installed: pip install 'apercite-analytics[{extra}]'"
    if module:
        return f"the database driver {module} is not installed: pip install {module}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
