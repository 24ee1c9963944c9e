"""Shared training engine: the estimator base, data, device, seeding and threads."""
