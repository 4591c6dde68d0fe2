"""Urbanism department."""
