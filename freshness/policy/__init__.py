"""Freshness policies: parsing and validating the policy file, and the pure freshness verdict."""
