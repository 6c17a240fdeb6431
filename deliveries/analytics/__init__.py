"""Campaign analytics: exact pre-aggregated counters, dashboards, drill-down, CSV export and click tracking."""
