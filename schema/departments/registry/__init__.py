"""Registry department."""
