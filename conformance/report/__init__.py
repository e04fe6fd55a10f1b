"""report room (docs/architecture.md): the auditor's report and the machine formats of a run.

A report folder (bundle) holds::

    results.json              the runner's results (conformance/results.py; schema docs/results.schema.json)
    report.html               one self-contained file for auditors (html.py, templates/)
    junit-requirements.xml    one testcase per requirement, for vendor CI (junit.py)
    convergence.csv / .xlsx   ANS Convergence layout, one row per requirement × scénario × preuve
    evidence/…                artefacts collected by the tests, each with its SHA-256
    manifest.json             SHA-256 of every file above, and the public key (manifest.py)
    manifest.sig              Ed25519 signature of manifest.json

``render.write_reports`` (called by the pytest plugin) and ``commands`` (called by the CLI: verify,
diff, merge, export) are the entry points; the other modules each do one job.
"""
