"""apercite-analytics: an hourly business-metrics ETL into one metric store, for Grafana."""

__version__ = "0.1.0"
