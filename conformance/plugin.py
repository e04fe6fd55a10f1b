"""The pytest plugin: requirement markers, options, the ``segur`` fixture and the results file.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run on a machine where
the harness is installed: it stays inert (no catalogue load, no files) until a test carries the
``requirement`` marker or a ``--segur-*`` option is given.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.evidence import EvidenceRef, EvidenceStore, link_findings, safe_name
from conformance.findings import Finding, NotEvaluated, Severity, error, info, warning
from conformance.results import TestRecord, aggregate, attach_captures, build_results, write_results
from conformance.sandbox.client import SandboxError, SandboxUnsupported

MARKER = "requirement"
HARNESS_MARKER = "harness_check"
OPTIONS: dict[str, tuple[str, str, str | None]] = {
    # dest: (command-line flag, environment variable, default)
    "segur_profile": ("--segur-profile", "SEGUR_PROFILE", None),  # None: the corridor folder's default
    "sandbox_url": ("--sandbox-url", "SEGUR_SANDBOX_URL", None),
    "artefacts": ("--artefacts", "SEGUR_ARTEFACTS", None),
    "cisis_kit": ("--cisis-kit", "SEGUR_CISIS_KIT", None),
    "segur_report": ("--segur-report", "SEGUR_REPORT", None),
    "segur_lang": ("--segur-lang", "SEGUR_LANG", "fr"),
    "dmp_trust": ("--dmp-trust", "SEGUR_DMP_TRUST", None),
    # deadlines of every call to the candidate (conformance.sandbox.client.Deadlines has the defaults)
    "segur_connect_timeout": ("--segur-connect-timeout", "SEGUR_CONNECT_TIMEOUT", None),
    "segur_first_byte_timeout": ("--segur-first-byte-timeout", "SEGUR_FIRST_BYTE_TIMEOUT", None),
    "segur_answer_timeout": ("--segur-answer-timeout", "SEGUR_ANSWER_TIMEOUT", None),
    "segur_jobs": ("--segur-jobs", "SEGUR_JOBS", None),  # artefact mode: worker processes per document
}
REFERENCE = "reference"  # --sandbox-url reference: start the embedded reference sandbox
FLUSH_EVERY_S = 2.0

state_key = pytest.StashKey["SegurState"]()
recorder_key = pytest.StashKey["Recorder"]()


def ConfigurationError(message: str) -> pytest.UsageError:  # noqa: N802 - reads as an exception
    """A bad option or catalogue: pytest prints a UsageError as one clear line, no traceback."""
    return pytest.UsageError(message)


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("segur-conformance", "Ségur DUI conformance")
    helps = {
        "segur_profile": "corridor profile: an id of profiles/corridors/ (default: the one marked default)",
        "sandbox_url": "base URL of the candidate's sandbox (contract v1), or 'reference' for the embedded one",
        "artefacts": "artefact folder (cda/, mss/, dmp/) instead of a sandbox",
        "cisis_kit": "path to the ANS CI-SIS kit (enables XSD and official schematrons)",
        "segur_report": "directory where results.json, report.html and evidence/ are written",
        "segur_lang": "report language: fr (default) or en",
        "dmp_trust": "PEM file or folder: the candidate's test trust anchors for VIHF and XAdES signatures (DMP)",
        "segur_connect_timeout": "seconds to connect to the candidate's sandbox, per call (default 10)",
        "segur_first_byte_timeout": "seconds the candidate may stay silent before its first byte, per call "
                                    "(default 60)",
        "segur_answer_timeout": "seconds for the candidate's whole answer, per call (default 120)",
        "segur_jobs": "artefact mode: worker processes for the per-document checks (default 1)",
    }
    for dest, (flag, env, _default) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, help=f"{helps[dest]} [env {env}, ini {dest}]")
        parser.addini(dest, helps[dest], default=None)
    group.addoption("--segur-defect", dest="segur_defects", action="append", default=[],
                    help="defect switch for the embedded reference sandbox (repeatable)")
    parser.addini("segur_defects", "defect switches for the embedded reference sandbox", type="args", default=[])


def _option(config: pytest.Config, dest: str) -> str | None:
    flag, env, default = OPTIONS[dest]
    value = config.getoption(dest)
    if value in (None, ""):
        value = os.environ.get(env) or None
    if value in (None, ""):
        value = config.getini(dest) or None
    return value if value not in (None, "") else default


@dataclass
class SegurConfig:
    profile_name: str
    sandbox_url: str | None
    artefacts_dir: Path | None
    cisis_kit: Path | None
    report_dir: Path | None
    lang: str
    defects: tuple[str, ...]
    dmp_trust: Path | None = None
    deadlines: Any = None  # conformance.sandbox.client.Deadlines of every call to the candidate

    @property
    def mode(self) -> str:
        return "artefacts" if self.artefacts_dir else "sandbox"


def resolve_config(config: pytest.Config) -> SegurConfig:
    lang = (_option(config, "segur_lang") or "fr").lower()
    if lang not in ("fr", "en"):
        raise ConfigurationError(f"--segur-lang must be fr or en, not {lang!r}")
    sandbox = _option(config, "sandbox_url")
    artefacts = _option(config, "artefacts")
    if sandbox and artefacts:
        raise ConfigurationError("give either --sandbox-url or --artefacts, not both")
    artefacts_dir = Path(artefacts).expanduser() if artefacts else None
    if artefacts_dir is not None and not artefacts_dir.is_dir():
        raise ConfigurationError(f"--artefacts: {artefacts_dir} is not a directory")
    if sandbox and sandbox != REFERENCE and not sandbox.startswith(("http://", "https://")):
        raise ConfigurationError(f"--sandbox-url must be an http(s) URL or 'reference', not {sandbox!r}")
    kit = _option(config, "cisis_kit")
    kit_path = Path(kit).expanduser() if kit else None
    if kit_path is not None and not (kit_path / "infrastructure" / "cda" / "CDA_extended.xsd").is_file():
        raise ConfigurationError(
            f"--cisis-kit: {kit_path} is not a CI-SIS kit (infrastructure/cda/CDA_extended.xsd not found)")
    report = _option(config, "segur_report")
    defects = tuple(config.getoption("segur_defects") or ()) + tuple(config.getini("segur_defects") or ())
    trust = _option(config, "dmp_trust")
    trust_path = Path(trust).expanduser() if trust else None
    if trust_path is not None and not trust_path.exists():
        raise ConfigurationError(f"--dmp-trust: {trust_path} does not exist")
    from conformance.sandbox.client import Deadlines

    try:
        deadlines = Deadlines.from_values(_option(config, "segur_connect_timeout"),
                                          _option(config, "segur_first_byte_timeout"),
                                          _option(config, "segur_answer_timeout"))
    except ValueError as exc:
        raise ConfigurationError(f"candidate deadlines: {exc}") from None
    from conformance.profiles import default_profile

    return SegurConfig(
        profile_name=_option(config, "segur_profile") or default_profile(),
        sandbox_url=sandbox,
        artefacts_dir=artefacts_dir,
        cisis_kit=kit_path,
        report_dir=Path(report).expanduser() if report else None,
        lang=lang,
        defects=defects,
        dmp_trust=trust_path,
        deadlines=deadlines,
    )


# ---------------------------------------------------------------------------------------------
# session state
# ---------------------------------------------------------------------------------------------
@dataclass
class SegurState:
    config: SegurConfig
    active: bool = False
    catalogue: Any = None
    profile: Any = None
    records: dict[str, TestRecord] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    store: EvidenceStore | None = None
    started_at: str = ""
    started: float = 0.0
    candidate_caps: dict[str, Any] | None = None
    sandbox_url_effective: str | None = None
    interrupted: bool = False
    last_flush: float = 0.0
    flush_cost: float = 0.0  # seconds the last intermediate flush of results.json took
    evidence_keys: set[str] = field(default_factory=set)  # identities of ``evidence`` entries (dedup)
    kit_info: dict[str, Any] | None = None
    candidate_problem: str = ""
    selection: str = ""
    proof_index: Any = None
    rule_map: Any = None
    harness: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: list[dict[str, Any]] = field(default_factory=list)  # harness-captured screens (manual proofs)

    def ensure_loaded(self) -> None:
        """Load catalogue and profile once, turning data errors into one clear usage error."""
        if self.catalogue is not None:
            return
        from conformance.profiles import ProfileError, load_profile
        from conformance.requirements import CatalogueError, load_catalogue
        from conformance.traceability import ProofIndex, TraceabilityError, load_rule_map

        try:
            catalogue = load_catalogue()
            self.profile = load_profile(self.config.profile_name, catalogue)
            self.proof_index = ProofIndex.build(catalogue)
            self.rule_map = load_rule_map()
        except (CatalogueError, ProfileError, TraceabilityError) as exc:
            raise ConfigurationError(str(exc)) from None
        # the shipped traceability data is checked against the shipped catalogue by tests/test_traceability.py;
        # a vendor's own catalogue (SEGUR_CATALOGUE_DIR) may hold a subset: unknown proofs simply never match
        self.catalogue = catalogue


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*ids): the REM requirement, scenario or proof ids (e.g. DUI.MSS.07, DUI.DMP.01.04.01) "
        "this test verifies",
    )
    config.addinivalue_line(
        "markers",
        f"{HARNESS_MARKER}(id, title_fr, title_en): a campaign precondition (candidate capabilities), shown "
        "first and counted in the exit code",
    )
    seg = resolve_config(config)
    state = SegurState(config=seg)
    state.started = time.time()
    state.started_at = _now()
    state.store = EvidenceStore(seg.report_dir)
    config.stash[state_key] = state
    config.pluginmanager.register(SessionReporter(config, state), "segur-session-reporter")
    if seg.report_dir or seg.sandbox_url or seg.artefacts_dir:
        state.active = True
        _bound_candidate_calls(config, seg)
    if seg.report_dir and not _is_worker(config):
        _report_on_sigterm(config)


def _bound_candidate_calls(config: pytest.Config, seg: SegurConfig) -> None:
    """Every SandboxClient of this run gets the run's deadlines (restored afterwards: pytester runs nest)."""
    from conformance.sandbox.client import set_default_deadlines

    previous = set_default_deadlines(seg.deadlines)
    config.add_cleanup(lambda: set_default_deadlines(previous))


def _report_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a CI job cancelled, a container stopped) ends the run like Ctrl-C: the results and the report
    are still written, marked interrupted. Only when this run writes a report, and only over the default."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the report short
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Preflight: a candidate sandbox that is down or speaks another contract is a configuration error,
    reported once and clearly, not as one ``error`` per test."""
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None or _is_worker(config) or config.getoption("collectonly", False):
        return
    url = state.config.sandbox_url
    if not url or url == REFERENCE or state.config.artefacts_dir:
        return
    problem = sandbox_preflight(url)
    if not problem:
        state.harness["HARNESS.SANDBOX_API"] = contract_preflight(url)
    if problem:
        state.harness["HARNESS.PREFLIGHT"] = harness_entry(
            "HARNESS.PREFLIGHT", "Bac à sable du candidat joignable et au contrat v1",
            "Candidate sandbox reachable and speaking contract v1", "failed", problem)
        if state.config.report_dir:
            state.active = True
            try:
                results = _write(state, final=True, exitstatus=int(pytest.ExitCode.USAGE_ERROR))
                _write_report(state, results)
            except ConfigurationError:
                raise
            except Exception as exc:  # the one-line problem below matters more than a report crash
                sys.stderr.write(f"segur-conformance: results not written ({type(exc).__name__}: {exc})\n")
        raise ConfigurationError(problem)


def contract_preflight(url: str) -> dict[str, Any]:
    """check-contract in fast mode (conformance/sandbox/contract_check.py ``preflight``): a warning when answers
    deviate from docs/sandbox-api.yaml, a failed campaign check only when no resident can be created."""
    from conformance.sandbox.contract_check import preflight

    verdict, reason, reason_en = preflight(url)
    return harness_entry("HARNESS.SANDBOX_API", "Réponses du bac à sable conformes à docs/sandbox-api.yaml (pré-vérification)",
                         "Sandbox answers conform to docs/sandbox-api.yaml (preflight)", verdict, reason, reason_en)


def sandbox_preflight(url: str, timeout: float = 10.0) -> str:
    """'' when ``url`` answers GET /capabilities with contract 1, else a one-line bilingual problem."""
    from conformance.sandbox.client import CONTRACT_VERSION, SandboxClient, default_deadlines

    try:  # GET /capabilities is instant: the run's deadlines, no looser than 10 s to the first byte, 30 s in all
        caps = SandboxClient(url, deadlines=default_deadlines().capped(timeout, 3 * timeout)).capabilities()
    except SandboxError as exc:
        return (f"bac à sable {url} inutilisable : {exc.message} "
                f"/ sandbox {url} not usable: {exc.message_en}")
    declared = caps.get("contract")
    if str(declared) != CONTRACT_VERSION:
        return (f"le bac à sable {url} déclare le contrat {declared!r}, ce harnais parle le contrat "
                f"{CONTRACT_VERSION!r} (docs/sandbox-api.yaml) / the sandbox declares contract {declared!r}, "
                f"this harness speaks contract {CONTRACT_VERSION!r}")
    return ""


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    state = config.stash[state_key]
    marked = [item for item in items if item.get_closest_marker(MARKER)]
    if not marked:
        return
    state.active = True
    state.ensure_loaded()
    keyword = str(config.getoption("keyword", "") or "")
    markexpr = str(config.getoption("markexpr", "") or "")
    state.selection = " ; ".join(x for x in (f"-k {keyword}" if keyword else "", f"-m {markexpr}" if markexpr else "") if x)
    problems: list[str] = []
    index = state.proof_index
    for item in marked:
        for mark in item.iter_markers(MARKER):
            if not mark.args:
                problems.append(f"{item.nodeid}: @pytest.mark.requirement needs at least one id")
            for rid in mark.args:
                if not index.knows(str(rid)):
                    problems.append(f"{item.nodeid}: unknown requirement, scenario or proof id {rid!r} "
                                    "(not in the catalogue)")
                elif str(rid) in index.manual:
                    problems.append(f"{item.nodeid}: {rid!r} is a manual proof: no test can verify it")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    in_profile = set(state.profile.requirement_ids)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        ids = requirement_ids(item)
        if ids and not (set(ids) & in_profile):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def marker_ids(item: pytest.Item) -> tuple[str, ...]:
    """The ids written in the test's markers: requirement, scenario or proof ids."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        ids.extend(str(a) for a in mark.args)
    return tuple(dict.fromkeys(ids))


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The requirements the test verifies (a scenario or proof id stands for its requirement)."""
    ids = marker_ids(item)
    if not ids:
        return ()
    state = item.config.stash.get(state_key, None)
    index = state.proof_index if state is not None else None
    if index is None:
        return ids
    return tuple(dict.fromkeys(index.requirement(i) for i in ids))


def proof_ids(item: pytest.Item) -> tuple[str, ...]:
    """The automated proofs the test verifies."""
    ids = marker_ids(item)
    state = item.config.stash.get(state_key, None)
    if not ids or state is None or state.proof_index is None:
        return ()
    return tuple(state.proof_index.proofs_of(ids))


def harness_entry(check_id: str, title: str, title_en: str, verdict: str, reason: str,
                  reason_en: str = "", findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": check_id, "title": title, "title_en": title_en, "verdict": verdict, "reason": reason,
            "reason_en": reason_en or reason, "findings": findings or []}


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
    def profile(self) -> Any:
        self._state.ensure_loaded()
        return self._state.profile

    @property
    def catalogue(self) -> Any:
        self._state.ensure_loaded()
        return self._state.catalogue

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

    def not_evaluated(self, reason: str, reason_en: str = "") -> None:
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


@pytest.fixture
def segur(request: pytest.FixtureRequest) -> Recorder:
    """Record findings and evidence for the current test (see docs/architecture.md)."""
    state = request.config.stash[state_key]
    recorder = Recorder(request.node, state)
    request.node.stash[recorder_key] = recorder
    return recorder


@pytest.fixture(scope="session")
def segur_config(pytestconfig: pytest.Config) -> SegurConfig:
    return pytestconfig.stash[state_key].config


@pytest.fixture(scope="session")
def segur_profile(pytestconfig: pytest.Config) -> Any:
    state = pytestconfig.stash[state_key]
    state.ensure_loaded()
    return state.profile


@pytest.fixture(scope="session")
def cisis_kit(segur_config: SegurConfig) -> Path | None:
    return segur_config.cisis_kit


@pytest.fixture(scope="session")
def reference_sandbox(pytestconfig: pytest.Config) -> Iterator[str | None]:
    """Start the embedded reference sandbox when ``--sandbox-url reference`` was asked."""
    state = pytestconfig.stash[state_key]
    seg = state.config
    if seg.sandbox_url != REFERENCE:
        yield seg.sandbox_url
        return
    from conformance.reference import ReferenceMissing, load_reference

    try:
        reference = load_reference()
    except ReferenceMissing as exc:
        raise pytest.UsageError(str(exc)) from None
    with reference.serve(defects=seg.defects) as running:
        state.sandbox_url_effective = running.url
        yield running.url


@pytest.fixture(scope="session")
def candidate(pytestconfig: pytest.Config, reference_sandbox: str | None) -> Any:
    """The system under test, through sandbox contract v1 or an artefact folder."""
    from conformance.sandbox.candidate import open_candidate

    state = pytestconfig.stash[state_key]
    state.ensure_loaded()
    seg = state.config
    if not reference_sandbox and not seg.artefacts_dir:
        pytest.skip("ni --sandbox-url ni --artefacts : aucun candidat à tester "
                    "(no --sandbox-url nor --artefacts given)")
    cand = open_candidate(sandbox_url=reference_sandbox, artefacts_dir=seg.artefacts_dir,
                          profile=state.profile)
    try:
        state.candidate_caps = cand.capabilities()
    except SandboxError as exc:
        state.candidate_caps = None
        state.candidate_problem = exc.message
    state.candidate_problem = getattr(cand, "capabilities_problem", "") or state.candidate_problem
    if cand.mode == "sandbox" and state.candidate_caps is not None:
        from conformance.sandbox.client import CONTRACT_VERSION

        declared = state.candidate_caps.get("contract")
        if str(declared) != CONTRACT_VERSION:
            state.candidate_problem = (f"contrat déclaré {declared!r}, attendu {CONTRACT_VERSION!r} "
                                       f"/ declared contract {declared!r}, expected {CONTRACT_VERSION!r}")
    return cand


# ---------------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    recorder = item.stash.get(recorder_key, None)
    try:
        result = yield
    except (SandboxUnsupported, NotEvaluated) as exc:
        # errors already recorded are a verdict: a later "cannot go on" must not hide them. A NotEvaluated
        # keeps its reason: the proofs with errors fail, the others are "not evaluated because …"
        if isinstance(exc, SandboxUnsupported):
            if recorder is not None and recorder.counted_errors:
                raise FindingsFailure(recorder.counted_errors, recorder.lang) from None
            skip_unsupported(exc)
        raise
    if recorder is not None and recorder.counted_errors:
        raise FindingsFailure(recorder.counted_errors, recorder.lang)
    return result


def skip_unsupported(exc: SandboxError) -> None:
    """The one "not supported" reason (issue 14): an HTTP 501 makes the dependent proofs not run."""
    skip(f"le candidat a répondu 501 (non pris en charge) : {exc.message}",
         f"the candidate answered 501 (not supported): {exc.message_en}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A 501 met while a fixture prepared the test (a send shared by many tests) is "not supported" too:
    the test is skipped (not_run), never an error nor a failure."""
    try:
        return (yield)
    except SandboxUnsupported as exc:
        skip_unsupported(exc)


class FindingsFailure(AssertionError):
    """The test recorded ERROR findings: the requirement is not met."""

    def __init__(self, findings: list[Finding], lang: str) -> None:
        self.findings = findings
        lines = [f"{len(findings)} constat(s) bloquant(s) / blocking finding(s):"]
        for f in findings[:50]:
            where = " ".join(p for p in (f.artefact, f.xpath, f"l.{f.line}" if f.line else "") if p)
            labels = ("expected", "found") if lang == "en" else ("attendu", "trouvé")
            exp = f" ({labels[0]}: {f.expected!r}, {labels[1]}: {f.found!r})" if (f.expected or f.found) else ""
            lines.append(f"  - [{f.rule or '-'}] {f.text(lang)}{exp} {where}".rstrip())
        if len(findings) > 50:
            lines.append(f"  … {len(findings) - 50} de plus / more")
        super().__init__("\n".join(lines))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, FindingsFailure):
        report.longrepr = str(call.excinfo.value)  # the findings are the message; no plugin traceback
    harness = item.get_closest_marker(HARNESS_MARKER)
    if harness is not None:
        _harness_report(item, report, call, harness)
        return report
    ids = requirement_ids(item)
    if not ids:
        return report
    outcome, message = _classify(report, call)
    if outcome is None:
        return report
    message_en = _english(report, call, message)
    state = item.config.stash.get(state_key, None)
    if outcome == "not_evaluated" and state is not None and state.config.lang == "en":
        report.longrepr = f"not evaluated: {message_en}"  # pytest's own summary line, in English too
    recorder = item.stash.get(recorder_key, None)
    findings = [f.to_dict() for f in recorder.findings] if recorder else []
    if recorder is not None and report.when == "call":
        findings += [f.to_dict() for f in recorder.held_findings()]
    evidence = [e.to_dict() for e in recorder.evidence_refs] if recorder else []
    if call.excinfo is not None and outcome in ("error", "not_evaluated"):
        # shown with the proof; a warning, so that it never turns "not evaluated" into "failed"
        findings.append(warning(f"non évalué : {message}", f"not evaluated: {message_en}",
                                rule="HARNESS.NOT_EVALUATED", proofs=proof_ids(item)).to_dict())
    findings_failure = call.excinfo is not None and isinstance(call.excinfo.value, FindingsFailure)
    report.user_properties.append(("segur", {
        "requirements": list(ids), "proofs": list(proof_ids(item)), "outcome": outcome, "message": message,
        "message_en": message_en, "phase": report.when, "findings": findings, "evidence": evidence, "findings_failure": findings_failure,
    }))
    if outcome == "not_evaluated" and report.when == "call":
        report.outcome = "failed"  # visible in vendor CI: a check that did not run is not a pass
    return report


def _harness_report(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None],
                    mark: pytest.Mark) -> None:
    args = [str(a) for a in mark.args] + ["", "", ""]
    check_id, title, title_en = args[0] or item.name, args[1] or item.name, args[2] or args[1] or item.name
    outcome, message = _classify(report, call)
    if outcome is None:
        return
    verdict = {"passed": "passed", "failed": "failed", "skipped": "not_run"}.get(outcome, "error")
    if call.excinfo is not None and isinstance(call.excinfo.value, AssertionError):
        message = str(call.excinfo.value).split("\nassert ")[0]
    report.user_properties.append(("segur_harness", harness_entry(check_id, title, title_en, verdict,
                                                                 _short(message, 1000),
                                                                 _short(_english(report, call, message), 1000))))
    recorder = item.stash.get(recorder_key, None)
    if recorder is not None and recorder.captures and report.when == "call":
        report.user_properties.append(("segur_captures", list(recorder.captures)))


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str | None, str]:
    """Map a pytest phase report to our test outcome; None when the phase adds nothing."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.skipped:
        if isinstance(exc, BilingualSkip):
            return "skipped", str(exc.msg)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
        return "skipped", str(reason).removeprefix("Skipped: ")
    if isinstance(exc, NotEvaluated):
        return "not_evaluated", exc.reason
    if isinstance(exc, SandboxError):
        return "not_evaluated", exc.message
    if report.when == "call":
        if report.passed:
            return "passed", ""
        if isinstance(exc, FindingsFailure):  # French here; _english gives the English twin
            return "failed", _short(FindingsFailure(exc.findings, "fr").args[0])
        if isinstance(exc, AssertionError):
            return "failed", _short(str(exc))
        return "error", f"{type(exc).__name__}: {_short(str(exc))}" if exc else "erreur"
    if report.failed:  # setup or teardown crashed: the check could not run
        return "error", f"{report.when}: {type(exc).__name__ if exc else ''}: {_short(str(exc))}"
    return None, ""


def _english(report: pytest.TestReport, call: pytest.CallInfo[None], message: str) -> str:
    """The English twin of ``_classify``'s message (``--lang en``): the reason the check gave in English
    (``segur.not_evaluated(fr, en)``, a sandbox error, a bilingual skip), else the message itself."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is None or message == "":
        return message
    if isinstance(exc, NotEvaluated):
        return exc.reason_en
    if isinstance(exc, SandboxError):
        return exc.message_en
    if isinstance(exc, BilingualSkip) and report.skipped:
        return exc.reason_en
    if isinstance(exc, FindingsFailure):
        return _short(FindingsFailure(exc.findings, "en").args[0])
    return message


class BilingualSkip(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """``pytest.skip`` with an English twin of its French reason (the proof becomes not run)."""

    def __init__(self, reason: str, reason_en: str) -> None:
        super().__init__(reason)
        self.reason_en = reason_en


def skip(reason: str, reason_en: str) -> None:
    """Skip the test (its proofs are not run) with a French reason and its English twin."""
    raise BilingualSkip(reason, reason_en)


def _short(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


_RANK = {"passed": 0, "skipped": 1, "not_run": 1, "not_evaluated": 2, "error": 3, "failed": 4}


def _merge_phase(record: TestRecord, value: dict[str, Any], duration: float) -> None:
    """A test has up to three phases; keep the worst outcome and every finding."""
    outcome = value["outcome"]
    phase = value.get("phase")
    if phase == "teardown" and outcome == "skipped":
        return
    current = record.outcome if record.findings or record.message or record.duration else None
    if current is None or _RANK[outcome] > _RANK[current] or phase == "setup":
        if not (current == "failed" and outcome != "failed"):
            record.outcome = outcome
            record.message = value.get("message", "") or record.message
            record.message_en = value.get("message_en", "") or value.get("message", "") or record.message_en
            record.findings_failure = bool(value.get("findings_failure"))
    record.duration += duration
    seen = set(record.findings)  # a set: a test over 10,000 documents records ~100,000 findings (issue 15)
    for f in value.get("findings", []):
        finding = Finding.from_dict(f)
        if finding not in seen:
            seen.add(finding)
            record.findings.append(finding)
    record.evidence.extend(value.get("evidence", []))


class SessionReporter:
    """Per-run collector registered in ``pytest_configure`` (one per config, so ``pytester`` runs nest)."""

    def __init__(self, config: pytest.Config, state: SegurState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _is_worker(self.config):
            return
        state = self.state
        for name, raw in report.user_properties:
            if name == "segur_captures" and isinstance(raw, list):
                state.captures.extend(raw)
                state.evidence.extend(c["evidence"] for c in raw)
                continue
            if name == "segur_harness" and isinstance(raw, dict):
                previous = state.harness.get(raw["id"])
                if previous is None or _RANK.get(raw["verdict"], 0) >= _RANK.get(previous["verdict"], 0):
                    state.harness[raw["id"]] = raw
                continue
            if name != "segur" or not isinstance(raw, dict):
                continue
            value: dict[str, Any] = raw
            record = state.records.get(report.nodeid)
            if record is None:
                record = TestRecord(nodeid=report.nodeid, requirements=tuple(value["requirements"]),
                                    proofs=tuple(value.get("proofs", ())))
                state.records[report.nodeid] = record
            _merge_phase(record, value, report.duration)
            for ev in value.get("evidence", []):
                key = _evidence_key(ev)
                if key not in state.evidence_keys:
                    state.evidence_keys.add(key)
                    state.evidence.append(ev)
        # a flush costs more as findings grow: wait at least 5× the last one (at most ~1/6 of the run)
        if state.config.report_dir and state.active and \
                time.time() - state.last_flush > max(FLUSH_EVERY_S, 5 * state.flush_cost):
            started = time.time()
            _write(state, final=False)
            state.flush_cost = time.time() - started

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.state.interrupted = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: the candidate was opened in the workers; bring what it declared back here."""
        seen = (getattr(node, "workeroutput", None) or {}).get("segur_candidate")
        if not seen:
            return
        state = self.state
        if state.candidate_caps is None and seen.get("caps") is not None:
            state.candidate_caps = seen["caps"]
        state.sandbox_url_effective = state.sandbox_url_effective or seen.get("url")
        state.candidate_problem = state.candidate_problem or seen.get("problem") or ""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if _is_worker(self.config):
            state = self.state
            self.config.workeroutput["segur_candidate"] = {  # type: ignore[attr-defined]
                "caps": state.candidate_caps, "url": state.sandbox_url_effective,
                "problem": state.candidate_problem}
            return
        state = self.state
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            state.interrupted = True
        if state.config.report_dir and state.active:
            _release_reports(self.config)
            results = _write(state, final=True, exitstatus=int(exitstatus))
            _write_report(state, results)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        _terminal_summary(self.state, terminalreporter)


def run_metadata(state: SegurState, *, final: bool, exitstatus: int | None = None) -> dict[str, Any]:
    seg = state.config
    profile = state.profile
    return {
        "harness_version": __version__,
        "run_id": run_id(state),
        "profile": profile.id if profile else seg.profile_name,
        "profile_label": getattr(profile, "label", ""),
        "waves": list(getattr(profile, "waves", ())),
        "lang": seg.lang,
        "started_at": state.started_at,
        "finished_at": _now() if final else None,
        "duration_s": round(time.time() - state.started, 3),
        "interrupted": state.interrupted,
        "complete": final and not state.interrupted,
        "mode": seg.mode,
        "sandbox_url": state.sandbox_url_effective or seg.sandbox_url,
        "reference_sandbox": seg.sandbox_url == REFERENCE,
        "defects": list(seg.defects),
        "artefacts_dir": str(seg.artefacts_dir) if seg.artefacts_dir else None,
        "cisis_kit": kit_metadata(seg.cisis_kit, state),
        "catalogue": catalogue_metadata(catalogue=state.catalogue) if state.catalogue is not None else None,
        "candidate": state.candidate_caps,
        "candidate_problem": state.candidate_problem or None,
        "selection": state.selection or None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "exit_status": exitstatus,
    }


def run_id(state: SegurState) -> str:
    """One UUID per run, the same in every flush of results.json (cited on each page of the dossier)."""
    if not getattr(state, "run_uuid", None):
        import uuid

        state.run_uuid = str(uuid.uuid4())  # type: ignore[attr-defined]
    return state.run_uuid  # type: ignore[attr-defined]


def catalogue_metadata(catalogue: Any) -> dict[str, Any]:
    """Version, origin and SHA-256 of the requirement catalogue the run judged against (issue 18)."""
    from conformance.requirements import catalogue_metadata as metadata

    return metadata(catalogue=catalogue)


def kit_metadata(path: Path | None, state: SegurState) -> dict[str, Any] | None:
    if path is None:
        return None
    if state.kit_info is None:
        info_: dict[str, Any] = {"path": str(path), "version": "inconnue", "sha256": None}
        try:
            from conformance.cda.kit import Kit

            kit = Kit.open(path)
            info_.update(version=str(kit.version), sha256=str(kit.sha256))
        except Exception as exc:  # the kit module reports its own problems elsewhere
            info_["error"] = f"{type(exc).__name__}: {exc}"
        state.kit_info = info_
    return state.kit_info


def _release_reports(config: pytest.Config) -> None:
    """Drop the findings copy each pytest report still carries (``user_properties``): they now live in
    ``state.records``, and pytest keeps every report to the end for its summary; with 10,000 documents
    that copy is ~100 MB held while the report bundle is written (issue 15). JUnit XML already took its
    properties when each report arrived."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for reports in (getattr(reporter, "stats", None) or {}).values():
        for rep in reports:
            props = getattr(rep, "user_properties", None)
            if props:
                rep.user_properties = [(name, value) for name, value in props if name != "segur"]


def _evidence_key(entry: Any) -> str:
    """A hashable identity of an evidence entry (a dict), for de-duplication in linear time."""
    import json

    return json.dumps(entry, sort_keys=True, default=str) if isinstance(entry, dict) else repr(entry)


def _write(state: SegurState, *, final: bool, exitstatus: int | None = None) -> dict[str, Any]:
    state.ensure_loaded()
    assert state.config.report_dir is not None
    requirements = [state.catalogue[rid] for rid in state.profile.requirement_ids]
    order = {r.id: i for i, r in enumerate(state.catalogue)}
    requirements.sort(key=lambda r: order.get(r.id, 0))
    entries = aggregate(requirements, state.records.values(), state.rule_map)
    attach_captures(entries, state.captures)
    results = build_results(run_metadata(state, final=final, exitstatus=exitstatus), entries, state.evidence,
                            harness_checks(state))
    link_findings(results, state.config.report_dir)  # each finding → the stored file and line (issue 13)
    write_results(state.config.report_dir / "results.json", results)
    state.last_flush = time.time()
    return results


def harness_checks(state: SegurState) -> list[dict[str, Any]]:
    """The campaign preconditions, in a stable order: preflight, then the marked checks, then problems."""
    checks = dict(state.harness)
    if state.candidate_problem and not any(c["verdict"] in ("failed", "error") for c in checks.values()):
        checks["HARNESS.CANDIDATE"] = harness_entry(
            "HARNESS.CANDIDATE", "Capacités déclarées par le candidat", "Capabilities declared by the candidate",
            "failed", state.candidate_problem)
    order = {"HARNESS.PREFLIGHT": 0}
    return [checks[k] for k in sorted(checks, key=lambda k: (order.get(k, 1), k))]


def _write_report(state: SegurState, results: dict[str, Any]) -> None:
    """Render the human report; a rendering bug must never cost the results file."""
    assert state.config.report_dir is not None
    try:
        from conformance.report.render import write_reports

        write_reports(results, state.config.report_dir, state.config.lang)
    except Exception as exc:
        sys.stderr.write(f"segur-conformance: report rendering failed ({type(exc).__name__}: {exc}); "
                         f"results.json is complete\n")


def _terminal_summary(state: SegurState, terminalreporter: Any) -> None:
    if not state.active or state.catalogue is None or not (state.records or state.harness):
        return
    requirements = [state.catalogue[rid] for rid in state.profile.requirement_ids]
    entries = aggregate(requirements, state.records.values(), state.rule_map)
    en = state.config.lang == "en"
    terminalreporter.section(f"segur-conformance — {state.profile.id}")
    for check in harness_checks(state):
        if check["verdict"] in ("failed", "error", "reserved"):
            title = check["title_en"] if en else check["title"]
            reason = check["reason_en"] if en else check["reason"]
            label = ("WARNING" if en else "ATTENTION") if check["verdict"] == "reserved" else check["verdict"].upper()
            terminalreporter.write_line(f"  {label:7} {check['id']}  {title}", red=check["verdict"] != "reserved",
                                        yellow=check["verdict"] == "reserved")
            terminalreporter.write_line(f"          {reason[:600]}")
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    terminalreporter.write_line(
        ("requirements: " if en else "exigences : ") + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for line in failing_proof_lines(entries, en):
        terminalreporter.write_line(line)
    if state.config.report_dir:
        terminalreporter.write_line(f"{'report:' if en else 'rapport :'} {state.config.report_dir}")


def failing_proof_lines(entries: list[dict[str, Any]], en: bool, limit: int = 40) -> list[str]:
    """One line per FAILED/ERROR requirement, then one per failing proof with its reason."""
    lines: list[str] = []
    for entry in entries:
        if entry["verdict"] not in ("failed", "error"):
            continue
        lines.append(f"  {entry['verdict'].upper():7} {entry['id']}  {entry['title']}")
        proofs = {p["id"]: p for s in entry.get("scenarios", []) for p in s.get("proofs", [])}
        for pid in entry.get("failing_proofs", []):
            proof = proofs.get(pid, {})
            reason = (proof.get("reason_en") if en else proof.get("reason")) or ""
            lines.append(f"      {proof.get('verdict', '?'):7} {pid}: {reason[:220]}")
        if len(lines) >= limit:
            lines.append("  …")
            break
    return lines


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")
