"""Notifications: contacts, message text (zh-CN), quiet-hours holds and delivery through
apprise. Imports from ``models`` (types and the calendar), never from ``flows``."""
