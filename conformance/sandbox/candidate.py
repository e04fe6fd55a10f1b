"""The system under test, whichever way it is reached: a live sandbox or an artefact folder.

Suites ask the candidate for what they check; when a mode cannot provide something (behaviour
scenarios need a live sandbox), the test is skipped with a reason and the requirement is ``not_run``,
never ``passed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.profiles import CorridorProfile
from conformance.sandbox.artefacts import Artefact, ArtefactFolderError, read_capabilities, read_folder
from conformance.sandbox.client import SandboxClient, SandboxError


class Candidate:
    mode: str = ""
    client: SandboxClient | None = None

    def __init__(self, profile: CorridorProfile | None = None) -> None:
        self.profile = profile
        self._caps: dict[str, Any] | None = None

    def capabilities(self) -> dict[str, Any]:
        raise NotImplementedError

    def files(self, kind: str) -> list[Artefact]:
        """Artefact-mode files of a kind (cda, mss, dmp, psc); empty in sandbox mode."""
        return []

    def require_sandbox(self) -> SandboxClient:
        """The contract client, or skip: behaviour scenarios cannot run on a folder."""
        if self.client is None:
            from conformance.plugin import skip

            skip("scénario de comportement : nécessite un bac à sable (--sandbox-url), non exécutable en mode artefacts",
                 "behaviour scenario: needs a sandbox (--sandbox-url), cannot run on an artefact folder")
        return self.client

    def supports(self, feature: str) -> bool:
        features = self.capabilities().get("features") or {}
        return bool(features.get(feature, self.mode == "artefacts"))

    def document_types(self) -> list[str]:
        return [str(t) for t in self.capabilities().get("document_types") or []]

    def no_document_hint(self) -> tuple[str, str]:
        """What to fix when there is no document to send (French, English): empty when types are declared."""
        if self.mode == "sandbox" and not self.document_types():
            return (" : le candidat ne déclare aucun type de document, déclarez document_types dans GET /capabilities",
                    ": the candidate declares no document type, declare document_types in GET /capabilities")
        return "", ""


class SandboxCandidate(Candidate):
    mode = "sandbox"

    def __init__(self, url: str, profile: CorridorProfile | None = None) -> None:
        super().__init__(profile)
        self.url = url
        self.client = SandboxClient(url)

    def capabilities(self) -> dict[str, Any]:
        if self._caps is None:
            self._caps = self.client.capabilities() if self.client else {}
        return self._caps


class ArtefactCandidate(Candidate):
    mode = "artefacts"

    def __init__(self, root: Path, profile: CorridorProfile | None = None) -> None:
        super().__init__(profile)
        self.root = root

    capabilities_problem = ""

    def capabilities(self) -> dict[str, Any]:
        """The declared capabilities; a broken capabilities.json is read as absent (the run goes on)
        and its problem is reported once, by the corridor precondition (suites/test_contract.py)."""
        if self._caps is None:
            try:
                self._caps = read_capabilities(self.root)
            except ArtefactFolderError as exc:
                self.capabilities_problem = str(exc)
                self._caps = {}
        return self._caps

    def files(self, kind: str) -> list[Artefact]:
        return read_folder(self.root, kind)


def open_candidate(*, sandbox_url: str | None, artefacts_dir: Path | None, profile: CorridorProfile | None = None) -> Candidate:
    if artefacts_dir is not None:
        return ArtefactCandidate(artefacts_dir, profile)
    if sandbox_url:
        return SandboxCandidate(sandbox_url, profile)
    raise SandboxError("aucun candidat : ni bac à sable ni dossier d'artefacts",
                       "no candidate: neither a sandbox nor an artefact folder")
