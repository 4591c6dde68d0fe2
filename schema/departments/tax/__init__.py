"""Tax department."""
