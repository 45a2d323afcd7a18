"""Benchmarks run once as plain tests in the normal test run (--benchmark-disable in
pyproject.toml); run them for real with `pytest benchmarks --benchmark-enable` (README)."""
