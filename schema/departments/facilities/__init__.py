"""Facilities department."""
