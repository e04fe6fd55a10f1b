"""The pytest plugin: requirement markers, options, the ``segur`` fixture and the results file.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run on a machine where
the harness is installed: it stays inert (no catalogue load, no files) until a test carries the
``requirement`` marker or a ``--segur-*`` option is given.

pytest registers this module only: its hooks and fixtures are the names imported here, split by job:

- ``options``    the ``--segur-*`` options, environment and ini (``SegurConfig``, ``resolve_config``)
- ``state``      the session state (``SegurState``) and what a test's ``requirement`` marker resolves to
- ``session``    configure, the sandbox preflight, collection against the catalogue and the profile
- ``recorder``   ``Recorder``, the object of the ``segur`` fixture
- ``fixtures``   ``segur``, ``segur_config``, ``segur_profile``, ``cisis_kit``, ``reference_sandbox``, ``candidate``
- ``verdict``    a test's phases → its outcome (blocking findings, 501, not evaluated), bilingual skips
- ``reporting``  records merged per test, results.json, the human report and the terminal summary
"""

from __future__ import annotations

from conformance.plugin.fixtures import (
    candidate,
    cisis_kit,
    reference_sandbox,
    segur,
    segur_config,
    segur_profile,
)
from conformance.plugin.options import (
    OPTIONS,
    REFERENCE,
    ConfigurationError,
    SegurConfig,
    _option,
    pytest_addoption,
    resolve_config,
)
from conformance.plugin.recorder import Recorder
from conformance.plugin.reporting import (
    FLUSH_EVERY_S,
    SessionReporter,
    catalogue_metadata,
    failing_proof_lines,
    harness_checks,
    kit_metadata,
    run_id,
    run_metadata,
)
from conformance.plugin.session import (
    contract_preflight,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_sessionstart,
    sandbox_preflight,
)
from conformance.plugin.state import (
    HARNESS_MARKER,
    MARKER,
    SegurState,
    harness_entry,
    marker_ids,
    proof_ids,
    recorder_key,
    requirement_ids,
    state_key,
)
from conformance.plugin.verdict import (
    BilingualSkip,
    FindingsFailure,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    skip,
    skip_unsupported,
)

__all__ = [
    # hooks (pytest finds them here)
    "pytest_addoption", "pytest_configure", "pytest_sessionstart", "pytest_collection_modifyitems",
    "pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_makereport",
    # fixtures
    "segur", "segur_config", "segur_profile", "cisis_kit", "reference_sandbox", "candidate",
    # the API of the suites and the CLI
    "MARKER", "HARNESS_MARKER", "OPTIONS", "REFERENCE", "FLUSH_EVERY_S", "ConfigurationError", "SegurConfig",
    "resolve_config", "_option", "SegurState", "state_key", "recorder_key", "marker_ids", "requirement_ids",
    "proof_ids", "harness_entry", "Recorder", "contract_preflight", "sandbox_preflight", "BilingualSkip",
    "FindingsFailure", "skip", "skip_unsupported", "SessionReporter", "run_metadata", "run_id",
    "catalogue_metadata", "kit_metadata", "harness_checks", "failing_proof_lines",
]
