"""sandbox room (docs/architecture.md)."""
