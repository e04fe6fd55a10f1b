"""suites room (docs/architecture.md)."""
