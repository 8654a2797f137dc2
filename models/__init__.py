"""Yearwheel's domain: calendars, dates, and (later) the ledger.

Imports neither Prefect nor apprise; everything here is testable on its own.
"""
