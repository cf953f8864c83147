"""Writers: the thin nodes at the end of the graph (the upsert node, the printer). They hand
values to the store's `MetricStore` and know nothing about sources.

May import: `store.values`.
"""
