"""The embedded reference sandbox, found through an entry point, never imported by name.

The reference DUI (samples/reference_dui) plays a vendor's product: the harness must not depend on it, and it
must not depend on the harness (tests/test_reference_independence.py). ``--sandbox-url reference``,
``--defect`` and ``sandbox`` reach it through the entry point group ``segur_conformance.reference``
(pyproject.toml), whose object offers ``serve(host, port, defects)``, ``all_defects()``, ``validate(names)``,
``UnknownDefect`` and ``dmp_trust_anchors_pem()`` (the test CA of its own signing certificates).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

GROUP = "segur_conformance.reference"
NAME = "reference"


class ReferenceMissing(RuntimeError):
    """No reference sandbox is installed (or it fails to load)."""


def load_reference() -> Any:
    """The reference sandbox's entry object; ``ReferenceMissing`` with a bilingual reason otherwise."""
    found = list(entry_points(group=GROUP))
    chosen = next((ep for ep in found if ep.name == NAME), found[0] if len(found) == 1 else None)
    if chosen is None:
        raise ReferenceMissing(
            f"bac à sable de référence non installé : aucun point d'entrée « {NAME} » du groupe {GROUP} "
            "(installez le projet : pip install -e .) / reference sandbox not installed: no entry point "
            f"'{NAME}' in group {GROUP} (install the project: pip install -e .)")
    try:
        return chosen.load()
    except ImportError as exc:
        raise ReferenceMissing(
            f"bac à sable de référence impossible à charger ({chosen.value}) : {exc} / reference sandbox "
            f"cannot be loaded ({chosen.value}): {exc}") from exc
