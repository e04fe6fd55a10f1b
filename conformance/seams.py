"""The typed seams where the plugin, the suites and the candidate meet (docs/architecture.md, "pytest plugin API").

A suite annotates its parameters with these names, never ``Any``::

    def test_x(segur: Recorder, candidate: Candidate, segur_profile: CorridorProfile) -> None: ...

They are Protocols (structural types) for what has more than one implementation or is faked in tests:
``Recorder`` (``conformance.plugin.Recorder``, and the light recorders of tests/), ``Candidate`` (a live
sandbox or an artefact folder, ``conformance.sandbox.candidate``) and ``ContractClient`` (sandbox contract
v1, ``conformance.sandbox.client.SandboxClient``). The plugin's fixtures are annotated with them, so mypy
checks that the real classes keep these promises. The data are the core's own dataclasses, re-exported:
``Artefact`` (one thing the candidate produced), ``Catalogue`` and ``CorridorProfile``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from conformance.evidence import EvidenceRef
from conformance.findings import Finding
from conformance.profiles import CorridorProfile
from conformance.requirements import Catalogue
from conformance.sandbox.artefacts import Artefact

if TYPE_CHECKING:
    import requests

__all__ = ["Artefact", "Candidate", "Catalogue", "ContractClient", "CorridorProfile", "Json", "Recorder"]

#: a JSON object of sandbox contract v1 (docs/sandbox-api.yaml): a resident, a document, an outcome
Json = dict[str, Any]


class ContractClient(Protocol):
    """Sandbox contract v1 as the suites call it (the HTTP details and deadlines are the client's)."""

    @property
    def base_url(self) -> str: ...

    def capabilities(self) -> Json: ...

    def reset(self) -> None: ...

    def set_endpoints(self, endpoints: Json) -> None: ...

    def create_resident(self, body: Json) -> Json: ...

    def get_resident(self, resident_id: str) -> Json: ...

    def qualify(self, resident_id: str) -> Json: ...

    def create_document(self, resident_id: str, doc_type: str, options: Json | None = None) -> Json: ...

    def get_document(self, doc_id: str) -> Json: ...

    def send_dmp(self, doc_id: str, replaces: str | None = None) -> Json: ...

    def send_mss(self, doc_id: str, **options: Any) -> Json: ...

    def psc_login(self, session: requests.Session | None = None) -> Json: ...

    def psc_session(self, session: requests.Session | None = None) -> Json: ...

    def psc_logout(self, session: requests.Session | None = None) -> Json: ...


class Candidate(Protocol):
    """The system under test, a live sandbox (``mode`` "sandbox") or an artefact folder ("artefacts")."""

    @property
    def mode(self) -> str: ...

    @property
    def client(self) -> ContractClient | None: ...

    def capabilities(self) -> Json: ...

    def files(self, kind: str) -> list[Artefact]: ...

    def require_sandbox(self) -> ContractClient:
        """The contract client, or skip the test (behaviour scenarios cannot run on a folder)."""
        ...

    def supports(self, feature: str) -> bool: ...

    def document_types(self) -> list[str]: ...

    def no_document_hint(self) -> tuple[str, str]: ...


class Recorder(Protocol):
    """The ``segur`` fixture: what a test records; the plugin turns it into proof verdicts."""

    @property
    def findings(self) -> list[Finding]: ...

    @property
    def lang(self) -> str: ...

    @property
    def profile(self) -> CorridorProfile: ...

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def errors(self) -> list[Finding]: ...

    def record(self, findings: Iterable[Finding] | Finding, *, check: str = "",
               proofs: Iterable[str] = ()) -> list[Finding]: ...

    def held_check(self, check: str, what: str, what_en: str = "", *, proofs: Iterable[str] = (),
                   **kw: Any) -> None: ...

    def evidence(self, name: str, data: bytes | str, kind: str = "Log", description: str = "",
                 artefact: str = "") -> EvidenceRef: ...

    def capture(self, proofs: Iterable[str], ref: EvidenceRef, note: str) -> None: ...

    def not_evaluated(self, reason: str, reason_en: str = "") -> NoReturn: ...

    def refused(self, observed: bool, what: str, what_en: str = "", **kw: Any) -> None: ...
