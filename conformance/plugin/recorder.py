"""The ``segur`` fixture's object: what a test records (findings, held checks, evidence, captures)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from conformance.evidence import EvidenceRef, safe_name
from conformance.findings import Finding, NotEvaluated, Severity, error, info
from conformance.plugin.state import SegurState, _now, proof_ids, requirement_ids

if TYPE_CHECKING:
    from conformance.profiles import CorridorProfile
    from conformance.requirements import Catalogue


# ---------------------------------------------------------------------------------------------
# the segur fixture
# ---------------------------------------------------------------------------------------------
class Recorder:
    """What a test uses to report findings and evidence; the plugin turns them into a verdict."""

    def __init__(self, item: pytest.Item, state: SegurState) -> None:
        self.item = item
        self._state = state
        self.findings: list[Finding] = []
        self.evidence_refs: list[EvidenceRef] = []
        self.requirements = requirement_ids(item)
        self.proofs = proof_ids(item)
        #: (check, proof) -> how many times a check evaluated on real input held for that proof
        self.held: dict[tuple[str, str], int] = {}
        #: harness-captured screens for manual proofs (conformance/sandbox/ui_capture.py)
        self.captures: list[dict[str, Any]] = []

    @property
    def lang(self) -> str:
        return self._state.config.lang

    @property
    def profile(self) -> CorridorProfile:
        return self._state.loaded()[1]

    @property
    def catalogue(self) -> Catalogue:
        return self._state.loaded()[0]

    def record(self, findings: Iterable[Finding] | Finding, *, check: str = "",
               proofs: Iterable[str] = ()) -> list[Finding]:
        """Record what a check saw.

        A single Finding is an observation made by the test itself. An iterable is the result of a check
        evaluated on the candidate's input: for each proof it covers (``proofs``, else the test's) where it
        recorded no ERROR and not only warnings, it also counts as a point of verification that held
        (an INFO finding named ``check``, by default after the test). Each finding gets the proofs it is
        evidence for (profiles/traceability.yaml, docs/architecture.md).
        """
        single = isinstance(findings, Finding)
        batch = [findings] if isinstance(findings, Finding) else list(findings)
        scope = self._scope(proofs)
        out = [self._attribute(f, scope) for f in batch]
        self.findings.extend(out)
        if not single:
            name = check or f"TEST.{getattr(self.item, 'originalname', self.item.name)}"
            for pid in scope:
                mine = [f for f in out if pid in f.proofs]
                if any(f.is_error for f in mine):
                    continue
                rule_map = self._state.rule_map
                if mine and all(f.severity is Severity.WARNING or (rule_map is not None and not rule_map.can_fail(f.rule))
                                for f in mine):
                    continue  # only warnings, or only checks that cannot fail: a reservation, not a hold
                self.held[(name, pid)] = self.held.get((name, pid), 0) + 1
        return out

    def held_check(self, check: str, what: str, what_en: str = "", *, proofs: Iterable[str] = (),
                   **kw: Any) -> None:
        """A point of verification the test itself evaluated and saw hold (an INFO finding)."""
        self.record(info(what, what_en or what, rule=check, proofs=tuple(proofs), **kw))

    def _scope(self, proofs: Iterable[str]) -> tuple[str, ...]:
        asked = tuple(proofs)
        index = self._state.proof_index
        if not asked or index is None:
            return self.proofs
        expanded = index.proofs_of(asked)
        outside = [p for p in expanded if p not in self.proofs]
        if outside or not expanded:
            raise ValueError(f"{self.item.nodeid}: proofs {list(asked)} are not verified by this test "
                             f"(its marker covers {list(self.proofs)})")
        return expanded

    def _attribute(self, finding: Finding, scope: tuple[str, ...]) -> Finding:
        from dataclasses import replace

        from conformance.traceability import attribute

        state = self._state
        if state.proof_index is None or state.rule_map is None:
            return finding
        return replace(finding, proofs=attribute(finding, scope, state.proof_index, state.rule_map))

    def held_findings(self) -> list[Finding]:
        out = []
        for (check, pid), count in self.held.items():
            times = f" ({count} fois)" if count > 1 else ""
            times_en = f" ({count} times)" if count > 1 else ""
            out.append(info(f"vérification satisfaite : {check}{times}", f"check held: {check}{times_en}",
                            rule=check, proofs=(pid,)))
        return out

    def evidence(self, name: str, data: bytes | str, kind: str = "Log", description: str = "",
                 artefact: str = "") -> EvidenceRef:
        """Store an artefact; ``artefact`` is the name findings give it when not ``name`` (report links)."""
        assert self._state.store is not None
        ref = self._state.store.add(name, data, kind=kind, description=description, test=self.item.nodeid,
                                    folder=safe_name(self.item.name, 80), aliases=(artefact,) if artefact else ())
        self.evidence_refs.append(ref)
        return ref

    def capture(self, proofs: Iterable[str], ref: EvidenceRef, note: str) -> None:
        """A screen the harness captured, stored under manual ``proofs`` as an attachment to be reviewed
        (never a verdict): shown with the proof in the report, like the vendor's own attached files."""
        self.captures.append({"proofs": list(proofs), "evidence": ref.to_dict(), "attachment": {
            "path": ref.path, "sha256": ref.sha256, "size": ref.size, "name": ref.path.rsplit("/", 1)[-1],
            "by": "segur-conformance (capture du harnais / harness capture)", "at": _now(), "note": note[:2000],
            "review": "pending"}})

    def not_evaluated(self, reason: str, reason_en: str = "") -> NoReturn:
        raise NotEvaluated(reason, reason_en)

    def refused(self, observed: bool, what: str, what_en: str = "", **kw: Any) -> None:
        """Negative scenario: pass only on a positive refusal reported by the candidate."""
        if observed:
            self.record(info(f"refus constaté : {what}", f"refusal observed: {what_en or what}", **kw))
        else:
            self.record(error(
                f"le candidat n'a pas montré qu'il refusait : {what}",
                f"the candidate did not show it refused: {what_en or what}",
                expected="refus explicite", found=kw.pop("found", "acceptation ou silence"), **kw))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def counted_errors(self) -> list[Finding]:
        """ERROR findings that count against one of this test's proofs (others are another test's)."""
        if self._state.proof_index is None:
            return self.errors
        return [f for f in self.errors if f.proofs]

