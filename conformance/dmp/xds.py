"""Transitional alias of ``conformance.ihe.xds`` (the module moved to the shared IHE layer, issue 17).

Kept only because the reference sandbox (``segur_reference_dui.dmp_client``) still imports this path;
delete it when that import goes (issue 17 item 3). New code imports ``conformance.ihe.xds``.
"""

from conformance.ihe.xds import *  # noqa: F403
