"""The reference sandbox: a compliant DUI simulator with defect switches (docs/architecture.md)."""
