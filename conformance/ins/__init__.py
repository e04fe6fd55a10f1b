"""ins room (docs/architecture.md)."""
