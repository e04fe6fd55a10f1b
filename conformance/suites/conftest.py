"""Shared fixtures of the shipped suites: each domain keeps its own in ``_fixtures_<domain>.py``.

A domain whose fixture module is missing simply contributes no fixtures; its tests then fail to
find them at setup, which the plugin reports as ``error`` (not evaluated), never as passed.
"""

from __future__ import annotations

import importlib

for _domain in ("ins", "cda", "dmp", "mss", "psc"):
    try:
        _module = importlib.import_module(f"conformance.suites._fixtures_{_domain}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"conformance.suites._fixtures_{_domain}":
            raise
        continue
    globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
