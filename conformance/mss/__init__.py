"""mss room (docs/architecture.md)."""
