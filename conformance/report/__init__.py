"""report room (docs/architecture.md)."""
