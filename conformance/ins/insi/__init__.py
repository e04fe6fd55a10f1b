"""The INSi teleservice as the harness sees it: SOAP messages, invented identities, a simulator."""
