"""Transports carry the published media to the ALO service (WHIP today)."""
