"""psc room (docs/architecture.md)."""
