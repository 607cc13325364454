"""Benchmarks that print figures beside their ceilings: ``python -m bench``."""
