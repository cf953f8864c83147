"""The command line: argument parsing and dispatch (main.py), and one module per command group
(read.py, db.py, metrics.py, dashboards.py, demo.py).

May import anything; nothing imports it but `__main__`.
"""
