"""Notifications: message building, recipients, channels, delivery (arrives with the engine)."""
