"""A strict reading of the Prometheus text exposition format, for the monitoring textfile."""

import re

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>-?[0-9.e+]+)$")


def parse_textfile(content: str) -> dict[tuple[str, str], float]:
    """A strict reading of the text exposition format: HELP/TYPE before samples, nothing else."""
    samples: dict[tuple[str, str], float] = {}
    typed: set[str] = set()
    for line in content.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind == "gauge"
            typed.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        assert match["name"] in typed, f"{match['name']} has no TYPE line"
        samples[(match["name"], match["labels"] or "")] = float(match["value"])
    return samples
