"""Logging and metrics plumbing shared by the services."""
