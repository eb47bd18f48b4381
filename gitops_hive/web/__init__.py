"""The operator's dashboard: pages, live events and the /api/ routes over TCP."""
