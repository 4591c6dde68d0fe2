"""Finance department."""
