"""Prometheus metrics of Failsafe at /metrics (docs/METRICS.md)."""
