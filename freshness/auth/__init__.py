"""API keys, roles and the guards every /v1 endpoint applies."""
