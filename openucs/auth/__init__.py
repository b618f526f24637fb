"""Credential backends: each turns what the client presented into an account, or nothing."""
