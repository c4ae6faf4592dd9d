"""Benchmarks of the service against its floors (issue 7): `uv run python -m bench`."""
