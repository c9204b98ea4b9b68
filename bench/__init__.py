"""Briefbot's benchmarks, run with `python -m bench` (or `make bench`).

Each benchmark is a function taking `bench.core.Options` and returning a Markdown section;
`bench.__main__.BENCHMARKS` lists them in the order they run.
"""
