"""The KPI report: the dictionary's KPIs over a period against the previous one, read from the
store (`digest.py`), drawn as small PNG charts (`charts.py`), and rendered for people: plain text
(`text.py`), self-contained HTML (`html.py`), PDF (`pdf.py`), e-mail (`mail.py`) and a
Slack-compatible webhook (`webhook.py`). Grafana OSS has no scheduled reports; this is ours.
"""
