"""Benchmarks (``bench_*.py`` scripts) and their compiled drivers (``*.pyx``: built by setup.py, not installed)."""
