"""Tokens, scopes, purposes and the privacy policy."""
