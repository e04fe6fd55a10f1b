"""cda room (docs/architecture.md)."""
