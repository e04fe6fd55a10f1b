"""dmp room (docs/architecture.md)."""
