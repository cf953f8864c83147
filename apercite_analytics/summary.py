"""The end-of-run summary: per node in/out/err, what was written, and the verdict."""

from __future__ import annotations

from apercite_analytics.graph import RunResult


def render(result: RunResult) -> str:
    width = max([len("node"), *(len(n.name) for n in result.nodes)])
    lines = [f"{'node':<{width}}  {'in':>9}  {'out':>9}  {'err':>6}"]
    for node in result.nodes:
        flag = "  defunct" if node.defunct else "  killed" if node.killed else ""
        lines.append(f"{node.name:<{width}}  {node.read:>9}  {node.wrote:>9}  {node.errors:>6}{flag}")
    if result.write:
        hourly, daily = result.written.get("hourly_value", 0), result.written.get("daily_value", 0)
        lines.append(
            f"written: hourly_value {hourly} rows, daily_value {daily} rows, "
            f"{result.metrics_created} new metric{'s' * (result.metrics_created != 1)}"
        )
    else:
        lines.append(f"printed {result.printed} values; nothing written (add --write to store them)")
    lines.extend(result.report)
    problems = []
    if result.errors:
        problems.append(f"{result.errors} node error{'s' * (result.errors != 1)}")
    if result.rejected:
        problems.append(f"{result.rejected} value{'s' * (result.rejected != 1)} rejected")
    if any(n.killed for n in result.nodes):
        problems.append("interrupted")
    verdict = "ok" if result.ok else "FAILED: " + ", ".join(problems or ["node errors"])
    lines.append(f"run {verdict} ({result.seconds:.1f} s, readers: {', '.join(result.readers)})")
    return "\n".join(lines)
