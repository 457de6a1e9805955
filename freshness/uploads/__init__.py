"""Staged uploads: a snapshot too large for one request body, sent in batches and published as one."""
