"""Social department."""
