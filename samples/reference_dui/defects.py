"""The registry of defect switches: every domain module declares ``DEFECTS`` (name → French text).

A defect name is global (one namespace across domains) so ``--defect NAME`` needs no domain prefix.
"""

from __future__ import annotations

import importlib

DOMAIN_MODULES = ("documents", "insi_client", "dmp_client", "mss_client", "psc_rp", "server")


def _collect() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name in DOMAIN_MODULES:
        module = importlib.import_module(f"segur_reference_dui.{name}")  # a broken module must surface
        for defect, text in getattr(module, "DEFECTS", {}).items():
            found[defect] = (name, text)
    return found


def all_defects() -> dict[str, tuple[str, str]]:
    """defect name → (module, description). Computed on call so late-added modules are seen."""
    return _collect()


class UnknownDefect(ValueError):
    pass


def validate(names: list[str] | tuple[str, ...] | set[str]) -> frozenset[str]:
    known = all_defects()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UnknownDefect(
            f"unknown defect(s): {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}"
        )
    return frozenset(names)
