"""Mobility department."""
