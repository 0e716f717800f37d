"""Reads of monitoring, one module per seam: `signals` (a monitor's signal from the
rollups: counts, baseline, series, version split, back in band, expected delay) and
`incident` (an incident's evidence: window, blast radius, affected, alerts, rollback
verdicts, irreversible actions fired)."""
