"""Benchmarks of ocppfast against its peers, run by `ocppfast bench`."""
