"""The bookmark monitor: minute rollups, the fast path, streaming anomaly detection."""
