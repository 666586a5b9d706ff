"""Steward's service layer: settings, database, Starlette app and CLI."""
