"""Shared fixtures of the shipped suites: each domain keeps its own in ``_fixtures_<domain>.py``.

Every domain ships its fixture module: a missing one, or one that fails to import, is a broken
installation and stops the run with its import error (never a silent "not evaluated").
"""

from __future__ import annotations

import importlib

for _domain in ("ins", "cda", "dmp", "mss", "psc"):
    _module = importlib.import_module(f"conformance.suites._fixtures_{_domain}")
    globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
