"""Telemetry: TurnEnd checked into stats rows, series and charts, sampling, retention."""
