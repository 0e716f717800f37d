"""Writes of monitoring, one module per seam: `ingest` (events in, counted into the
rollups), `monitors` (configuring monitors, their baselines and calibration),
`evaluation` (running the monitors), `alerts` (raising and resolving alerts, opening or
joining the system's incident)."""
