"""Media sources: what the device captures and publishes."""
