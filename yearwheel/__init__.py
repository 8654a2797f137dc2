"""Yearwheel's application: what is neither the domain (``models``), nor notifications, nor
a Prefect flow — the settings, the composition root, the use cases, the command line, the
web service, the reports and the Excel templates.

Importing this package imports nothing heavy: ``yearwheel --help`` must stay instant.
"""
