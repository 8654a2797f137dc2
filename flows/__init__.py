"""Prefect flows (thin) and the `yearwheel` command line."""
