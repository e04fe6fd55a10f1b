"""DMP room (docs/architecture.md): feeding Mon espace santé with IHE XDS.b ITI-41, VIHF and XAdES.

The ebRIM model (``xds``, ``ebrim``), the CDA header reader and the metadata-versus-CDA comparison are
in the shared layer ``conformance.ihe`` (the MSS room uses them for XDM).

- ``ns``            the IHE namespaces of ``conformance.ihe.ns`` plus the DMP's TD0.x stand-ins;
- ``mtom``          bounded multipart/related (MTOM/XOP) parsing and building;
- ``soap``          SOAP 1.2 envelopes, WS-Addressing, faults, RegistryResponse;
- ``iti41``         one captured request read into facts, every obstacle a finding;
- ``vihf`` / ``xades``  the SAML VIHF and the XAdES signature document: build and check;
- ``valuesets``     kit JDV value sets when given, built-in subsets otherwise;
- ``checks``        the pure check functions (D1…D9, D15 of protocols.md §1.6);
- ``simulator``     the DMP simulator (HTTPS, test CA from ``pki``); ``samples``: a synthetic CDA.
"""
