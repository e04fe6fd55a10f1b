"""What the harness may use of the reference DUI: the object of the entry point ``segur_conformance.reference``.

The harness never imports ``segur_reference_dui`` by name (conformance/reference.py loads this module through
the entry point declared in pyproject.toml), and nothing here imports the harness: the reference DUI is built
like a vendor's product, so a misreading of a specification shared by a builder and a checker can show.
"""

from __future__ import annotations

from segur_reference_dui.defects import UnknownDefect, all_defects, validate
from segur_reference_dui.pki import dmp_trust_anchors_pem
from segur_reference_dui.server import RunningSandbox, serve

__all__ = ["RunningSandbox", "UnknownDefect", "all_defects", "dmp_trust_anchors_pem", "serve", "validate"]
