"""The connection session: states, backoff, access step and the keep-alive supervisor."""
