"""How much the google_analytics reader adds on top of Google's client for one big report page.

Baseline: parsing a RunReportResponse JSON page into its protobuf (what the client does with every
response anyway). Measured: placing those rows in UTC hours, naming and typing them (`Records`).
Prints the medians of several runs and the ratio reader / baseline.

    python benchmarks/ga_rows.py [rows] [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from google.analytics.data_v1beta import RunReportResponse
from google.protobuf import json_format

from apercite_analytics.config.load import parse
from apercite_analytics.readers import google_analytics
from apercite_analytics.window import Window

CHANNELS = ["Direct", "Organic Search", "Paid Search", "Referral", "Email", "Organic Social", "Display", "(other)"]
METRICS = [("sessions", "TYPE_INTEGER"), ("activeUsers", "TYPE_INTEGER"), ("averageSessionDuration", "TYPE_SECONDS")]


def page_json(rows: int) -> str:
    start = datetime(2026, 1, 1)
    body = []
    for i in range(rows):
        hour, channel = divmod(i, len(CHANNELS))
        moment = start + timedelta(hours=hour)
        body.append(
            {
                "dimensionValues": [{"value": moment.strftime("%Y%m%d%H")}, {"value": CHANNELS[channel]}],
                "metricValues": [{"value": str(i % 97)}, {"value": str(i % 89)}, {"value": f"{i % 300}.25"}],
            }
        )
    return json.dumps(
        {
            "dimensionHeaders": [{"name": "dateHour"}, {"name": "sessionDefaultChannelGroup"}],
            "metricHeaders": [{"name": n, "type": t} for n, t in METRICS],
            "rows": body,
            "rowCount": rows,
            "metadata": {"currencyCode": "USD", "timeZone": "America/New_York"},
            "kind": "analyticsData#runReport",
        }
    )


def median_seconds(run, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=100_000, help="rows in the page (default 100,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5; medians are shown)")
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 1 run")
    args = parser.parse_args(argv)
    rows, runs = (2_000, 1) if args.quick else (args.rows, args.runs)
    text = page_json(rows)
    settings = parse(
        {
            "readers": {
                "google_analytics": {
                    "property": 1,
                    "credentials": "/unused.json",
                    "reports": {
                        "channels": {
                            "metrics": [m for m, _ in METRICS],
                            "dimensions": ["sessionDefaultChannelGroup"],
                        }
                    },
                }
            }
        }
    ).readers["google_analytics"]
    window = Window(now=datetime(2027, 1, 1, tzinfo=UTC), since=datetime(2025, 12, 1, tzinfo=UTC))
    [node] = google_analytics.chains(settings, window)["google_analytics.channels"]
    start, end = node.utc_range(None)

    def parse_page():
        message = RunReportResponse.pb(RunReportResponse())
        json_format.Parse(text, message, ignore_unknown_fields=True)
        return message

    page = parse_page()

    def place_rows():
        records = google_analytics.Records(node, start, end, node.request_dates(start, end))
        records.add_page(page)
        return records

    baseline = median_seconds(parse_page, runs)
    reader = median_seconds(place_rows, runs)
    values = sum(len(v) for v in place_rows().values.values())
    print(f"{rows} rows, {values} values")
    print(f"baseline  json → protobuf (Google's client) : {baseline * 1000:8.1f} ms  ({rows / baseline:,.0f} rows/s)")
    print(f"reader    place, name, type (Records)       : {reader * 1000:8.1f} ms  ({rows / reader:,.0f} rows/s)")
    print(f"ratio reader / baseline: {reader / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
