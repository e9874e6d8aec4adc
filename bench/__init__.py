"""Benchmarks of the web process (not part of the test run): `python -m bench.run`."""
