"""Simulated clients: the protocol client shared by tests, benchmarks and loadgen."""
