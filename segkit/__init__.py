"""segkit."""
