"""The run: which readers and chains (plan.py), the steps of one `read` (job.py), the only Bonobo
code (engine.py), what a run did and its summary (result.py), and the job's own metrics
(selfmetrics.py).

The only package that knows both readers and the store. May import anything but `cli`.
"""
