"""Benchmarks (see README.md). A package so that a server started by a benchmark can import
its bench-only modules (`bench.settings_bench`, `bench.urls_bench`) from the project root."""
