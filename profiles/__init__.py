"""Corridor profiles, requirement catalogues and document models, as data (see docs/architecture.md)."""
