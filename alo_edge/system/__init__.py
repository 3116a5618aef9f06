"""The device's life under the operating system: logging, and later notify/watchdog."""
