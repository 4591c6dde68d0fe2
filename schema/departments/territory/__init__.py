"""Territory department."""
