"""Observability: metrics (collector, rollups, series), health checks with incidents and uptime,
a public status page, log search, Prometheus exposition and post-deploy smoke checks."""
