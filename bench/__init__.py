"""Benchmarks that print figures beside a baseline measured in the same run. Never asserts on time."""
