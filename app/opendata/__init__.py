"""Open data for the city's data portal: zones of spots, never a single spot (docs/api.md, "Open
data"; docs/decisions/0008-open-data-zones.md)."""
