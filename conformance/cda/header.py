"""Transitional alias of ``conformance.ihe.cda_header`` (the reader moved to the shared IHE layer, issue 17).

Kept only because the reference sandbox (``segur_reference_dui.documents``) and
``conformance/suites/_fixtures_dmp.py`` still import this path; delete it when they no longer do.
New code imports ``conformance.ihe.cda_header``.
"""

from conformance.ihe.cda_header import *  # noqa: F403
