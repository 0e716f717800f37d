"""Telemetry in: what a team's own observability already sends, taken as Failsafe's input.

OpenTelemetry spans of generative-AI calls become events (`otlp/`, docs/TELEMETRY.md), and
alerts from the tools a team already runs open incidents."""
