"""Transitional alias of ``conformance.ihe.ebrim`` (the module moved to the shared IHE layer, issue 17).

Kept only because the reference sandbox (``segur_reference_dui.dmp_client``) still imports this path;
delete it when that import goes (issue 17 item 3). New code imports ``conformance.ihe.ebrim``.
"""

from conformance.ihe.ebrim import *  # noqa: F403
