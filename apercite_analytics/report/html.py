"""The report as one self-contained HTML page: styles inline, charts as `data:` PNGs (or `cid:`
references for the e-mail), no script, no font or image fetched from anywhere. A single column
of cards that reads on a phone and prints on A4.

string.Template, not Jinja2: bonobo2 pins Jinja2 2.11, and a page this small needs no template
engine. Every value is escaped."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from string import Template

from apercite_analytics.report import numbers, text
from apercite_analytics.report.digest import NO_DATA, PARTIAL, Digest, KpiResult

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body{margin:0;padding:16px;background:#f6f8fa;color:#1f2328;
  font:15px/1.4 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:680px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}
.period{color:#59636e;margin:0 0 16px}
.partial{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;
  padding:0 6px;font-size:13px}
h2{font-size:17px;margin:20px 0 8px;border-bottom:1px solid #d1d9e0;padding-bottom:4px}
.kpi{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:12px;margin:0 0 10px;
  display:flex;flex-wrap:wrap;gap:8px;align-items:center;page-break-inside:avoid}
.figures{flex:1 1 260px;min-width:0}
.name{font-weight:600}
.value{font-size:26px;font-weight:600;margin:2px 0}
.nodata{color:#59636e;font-size:20px}
.change{font-size:14px}
.good{color:#1a7f37}.bad{color:#cf222e}.flat{color:#59636e}
.target{font-size:13px;color:#59636e}
.bar{height:6px;background:#eaeef2;border-radius:3px;margin-top:3px;max-width:240px}
.bar span{display:block;height:6px;border-radius:3px;background:#0969da}
.chart{flex:0 0 auto;max-width:100%}
.chart img{display:block;max-width:100%;height:auto}
@media print{body{background:#fff;padding:0}}
footer{margin-top:20px;color:#59636e;font-size:13px;border-top:1px solid #d1d9e0;padding-top:8px}
</style></head>
<body><main>
<h1>$title</h1>
<p class="period">$period$partial<br>compared with $previous</p>
$sections
<footer>$footer</footer>
</main></body></html>
""")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _card(result: KpiResult, image: str | None) -> str:
    kpi = result.kpi
    value = numbers.with_unit(result.value, kpi.unit)
    raw = "" if result.value is None else f' data-value="{result.value!r}"'
    parts = [
        f'<div class="kpi" data-kpi="{escape(kpi.key)}"{raw}><div class="figures">',
        f'<div class="name">{escape(kpi.title)}</div>',
    ]
    if result.value is None:
        parts.append(f'<div class="value nodata">{NO_DATA}</div>')
    else:
        partial = ' <span class="partial">partial</span>' if result.status == PARTIAL else ""
        parts.append(f'<div class="value">{escape(value)}{partial}</div>')
        arrow = {"good": "▲", "bad": "▼", "flat": ""}[result.verdict] if result.change is not None else ""
        verdict = result.verdict if result.change is not None else "flat"
        change = escape(numbers.change(result))
        versus = ' <span class="flat">vs previous</span>' if result.change is not None else ""
        parts.append(f'<div class="change {verdict}">{arrow} {change}{versus}</div>')
        if result.target is not None:
            width = max(0.0, min(1.0, result.progress or 0.0)) * 100
            parts.append(f'<div class="target">{escape(numbers.progress(result))}</div>')
            parts.append(f'<div class="bar"><span style="width:{width:.0f}%"></span></div>')
    parts.append("</div>")
    if image is not None:
        alt = f"{kpi.title}: this period, and the previous one in grey"
        parts.append(f'<div class="chart"><img src="{image}" alt="{escape(alt)}" width="260" height="80"></div>')
    parts.append("</div>")
    return "".join(parts)


def render(digest: Digest, image: Callable[[KpiResult], str | None]) -> str:
    """The page; `image(result)` gives each chart's `src` (a data: URI, a cid: reference) or None."""
    sections = []
    for section, results in digest.sections().items():
        cards = "\n".join(_card(r, image(r)) for r in results)
        sections.append(f"<section><h2>{escape(section)}</h2>\n{cards}\n</section>")
    if not digest.results:
        sections.append('<p class="nodata">no data: none of the KPIs\' metrics is in the store</p>')
    if digest.not_shown:
        sections.append(f'<p class="flat">Not shown (metrics never stored): {escape(", ".join(digest.not_shown))}</p>')
    partial = "" if digest.complete else ' <span class="partial">partial: the period is not complete yet</span>'
    generated = f"generated {numbers.moment(digest.generated_at)} by apercite-analytics"
    return PAGE.substitute(
        title=escape(digest.title),
        period=escape(digest.period.label()),
        partial=partial,
        previous=escape(digest.previous.label()),
        sections="\n".join(sections),
        footer=f"{escape(text.footer(digest))}<br>{escape(generated)}",
    )
