"""Performance benchmarks (not part of pytest): `python -m benchmarks`. See docs/performance.md."""
