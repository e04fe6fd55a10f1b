"""Pro Santé Connect room: mock OpenID provider, harness browser, relying-party scenarios (docs/psc.md)."""
