"""INS room: the identity rules every other domain relies on (docs/architecture.md).

- ``matricule``: matricule INS (NIR/NIA) parsing, key, structure, OIDs (``check_matricule``).
- ``traits``: the strict traits in INSi format and the "stored exactly as returned" comparison.
- ``identity``: statuses PROV/RECUP/VALI/QUAL and the sharing rule (only QUAL shares the INS).
- ``cda_identity``: the recordTarget identity of a CDA, extracted and checked (``check_cda_identity``).
- ``sharing``: the INS as an XDS/VIHF CX patient id and as a patient MSSanté address.
- ``insi``: the INSi teleservice: SOAP messages and request checks, invented identities, a simulator.
"""
