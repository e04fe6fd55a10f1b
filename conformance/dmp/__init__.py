"""DMP room (docs/architecture.md): feeding Mon espace santé with IHE XDS.b ITI-41, VIHF and XAdES.

- ``ns``            namespaces, SOAP actions, ebRIM identifiers (one place for every URI);
- ``mtom``          bounded multipart/related (MTOM/XOP) parsing and building;
- ``soap``          SOAP 1.2 envelopes, WS-Addressing, faults, RegistryResponse;
- ``xds`` / ``ebrim``  the ebRIM model (parse) and its exact inverse (build); CX/XCN/XON/DTM;
- ``iti41``         one captured request read into facts, every obstacle a finding;
- ``vihf`` / ``xades``  the SAML VIHF and the XAdES signature document: build and check;
- ``metadata_vs_cda``  XDS metadata versus the CDA header (shared with the MSS room for XDM);
- ``valuesets``     kit JDV value sets when given, built-in subsets otherwise;
- ``checks``        the pure check functions (D1…D9, D15 of protocols.md §1.6);
- ``simulator``     the DMP simulator (HTTPS, test CA from ``pki``); ``samples``: a synthetic CDA.
"""
