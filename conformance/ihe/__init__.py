"""The shared IHE/CDA layer (docs/architecture.md "Layers"): mechanics that the DMP and MSSanté rooms
(and the CDA room for the header) both need, so no room imports another.

- ``ns``               namespaces, SOAP actions, ebRIM identifiers, ``q`` (Clark notation);
- ``xds``              the ebRIM model of a submission (parse) and the HL7 v2 datatypes CX/XCN/XON/DTM;
- ``ebrim``            its exact inverse (build);
- ``cda_header``       the CDA header read as plain values;
- ``metadata_vs_cda``  XDS metadata versus the CDA header (ITI-41 DocumentEntry, XDM METADATA.XML).

This layer imports only the core (findings, safexml); the rooms import it. Checked by the import
contracts in ``.importlinter`` (tests/test_import_contracts.py).
"""
