"""The DMP room's namespaces: every IHE/ebRIM identifier of ``conformance.ihe.ns``, plus the DMP's stand-ins.

The IHE ones live in the shared layer (the MSS room's XDM packages use them too); only what is proper to
the DMP simulator is defined here.
"""

from __future__ import annotations

from conformance.ihe.ns import *  # noqa: F403 - this module is the IHE namespace module extended

DMP_SIM = "urn:segur-conformance:dmp-simulator:td0"  # our TD0.2/TD0.3 stand-ins (format not public)
ACTION_TD02 = "urn:segur-conformance:dmp:TD0.2"  # stand-in: the DMP guide's real action is not public
ACTION_TD03 = "urn:segur-conformance:dmp:TD0.3"
