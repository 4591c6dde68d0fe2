"""Environment department."""
