"""Fixtures of the CDA suite: the candidate's documents, collected once per run.

``cda_documents`` is shared with the INS, DMP and MSSanté suites (they check and send the same
documents), so it returns plain ``Artefact`` objects whose ``meta`` says where each came from:
``document_id`` and ``resident_id`` (contract v1 ids), ``type`` (the type asked for) and ``resident``
(the resident JSON, for the Règle 28 comparison). In artefact mode it is simply ``cda/*.xml``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.findings import NotEvaluated
from conformance.plugin.options import _option
from conformance.sandbox.client import SandboxError, SandboxTimeout, SandboxUnsupported
from conformance.seams import Artefact, Candidate, ContractClient, CorridorProfile

if TYPE_CHECKING:  # the CDA room is imported when a test runs, not at collection
    from conformance.cda.kit import Kit
    from conformance.cda.validate import ValidationResult

# An invented identity for a candidate without INS support (never a real person).
FALLBACK_RESIDENT = {
    "traits": {"birth_name": "CDATEST", "given_names": ["ALICE", "MARIE"], "first_given_name": "ALICE",
               "birth_date": "1941-06-15", "sex": "F", "birthplace_code": "75056"},
    "used_name": "CDATEST",
    "used_given_name": "ALICE",
}


def requested_document_types(candidate: Candidate, profile: CorridorProfile) -> list[str]:
    """The types the corridor requires that the candidate declares (declared order kept)."""
    declared = candidate.document_types()
    wanted = set(getattr(profile, "document_types", ()) or declared)
    return [t for t in declared if t in wanted]


def decode_cda(answer: dict[str, Any]) -> bytes:
    """The CDA bytes of a ``POST /residents/{id}/documents`` answer (``cda_base64``)."""
    raw = answer.get("cda_base64")
    if not isinstance(raw, str) or not raw:
        raise ValueError("cda_base64 absent de la réponse")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("cda_base64 n'est pas du base64 valide") from None


def _optional(request: pytest.FixtureRequest, name: str) -> Any:
    """Another suite's fixture, or None when it is missing, skipped or could not run."""
    try:
        return request.getfixturevalue(name)
    except (pytest.FixtureLookupError, NotEvaluated, SandboxError):
        return None
    except pytest.skip.Exception:
        return None


def _resident(request: pytest.FixtureRequest, client: ContractClient) -> dict[str, Any]:
    resident = _optional(request, "qualified_resident")
    if resident:
        return dict(resident)
    try:
        created = client.create_resident(FALLBACK_RESIDENT)
        return dict(client.get_resident(str(created["id"])))
    except SandboxError as exc:
        raise NotEvaluated(f"création du résident de test impossible : {exc.message}",
                           f"could not create the test resident: {exc.message_en}") from None


@pytest.fixture(scope="session")
def cda_documents(request: pytest.FixtureRequest, candidate: Candidate, segur_profile: CorridorProfile) -> list[Artefact]:
    """Every CDA document to check: produced now through the sandbox, or read from ``cda/*.xml``."""
    if candidate.mode != "sandbox":
        return list(candidate.files("cda"))
    client = candidate.require_sandbox()  # sandbox mode: never skips
    types = requested_document_types(candidate, segur_profile)
    if not types:
        return []
    resident = _resident(request, client)
    out: list[Artefact] = []
    for doc_type in types:
        name = f"cda/{doc_type}.xml"
        meta = {"type": doc_type, "resident_id": resident.get("id"), "resident": resident}
        try:
            answer = client.create_document(str(resident["id"]), doc_type)
        except SandboxUnsupported:
            out.append(Artefact(name, b"", "cda", dict(meta, unsupported=True),
                                problem=f"type {doc_type} déclaré mais refusé (501) par le candidat"))
            continue
        except SandboxTimeout as exc:  # the candidate never finished answering: not a refusal, not evaluated
            out.append(Artefact(name, b"", "cda", dict(meta, timeout=True, timeout_en=exc.message_en),
                                problem=f"production non aboutie : {exc.message}"))
            continue
        except SandboxError as exc:
            out.append(Artefact(name, b"", "cda", meta, problem=f"production refusée : {exc.message}"))
            continue
        name = f"cda/{doc_type}-{answer.get('id')}.xml"
        try:
            data = decode_cda(answer)
        except ValueError as exc:
            out.append(Artefact(name, b"", "cda", meta, problem=str(exc)))
            continue
        out.append(Artefact(name, data, "cda", dict(meta, document_id=answer.get("id"))))
    return out


@pytest.fixture(scope="session")
def cda_kit(cisis_kit: Path | None) -> Kit | None:
    """The opened CI-SIS kit, or None when --cisis-kit was not given (layers 1 and 2 then do not run)."""
    if cisis_kit is None:
        return None
    from conformance.cda.validate import open_kit

    try:
        return open_kit(cisis_kit)
    except NotEvaluated:
        raise
    except Exception as exc:
        reason = getattr(exc, "reason", str(exc))
        raise NotEvaluated(f"kit CI-SIS inutilisable : {reason}",
                           f"unusable CI-SIS kit: {getattr(exc, 'reason_en', reason)}") from None


@pytest.fixture(scope="session")
def cda_model_results(request: pytest.FixtureRequest, cda_documents: list[Artefact], candidate: Candidate,
                      segur_profile: CorridorProfile) -> dict[str, ValidationResult]:
    """Layer 3 (built-in models) on every collected document, computed once: name → ValidationResult.

    Streamed (issue 15): each document is read, checked and released in turn (in ``--segur-jobs`` worker
    processes in artefact mode), and only what the suites read afterwards is kept: the findings, the
    detection and a two-element summary in place of the parsed tree (``summary_tree``)."""
    from conformance.sandbox.artefacts import stream_map

    sandbox = candidate.mode == "sandbox"
    corridor = getattr(segur_profile, "id", None)
    jobs = 1 if sandbox else artefact_jobs(request.config)
    if not sandbox:
        use_pytest_console(request.config)
    tasks = []
    for art in cda_documents:
        if art.problem:
            continue
        meta = art.meta or {}
        expected = meta.get("type") if sandbox else type_hint_from_name(art.name)
        tasks.append((art, expected, meta.get("resident"), sandbox, corridor))
    label = "CDA (models)" if _plugin_option(request.config, "segur_lang") == "en" else "CDA (modèles)"
    out: dict[str, ValidationResult] = {}
    for task, (result, summary) in stream_map(_model_result, tasks, jobs=jobs, label=label):
        out[task[0].name] = replace(result, tree=summary_tree(summary))
    return out


def _model_result(task: tuple[Artefact, str | None, Any, bool, str | None]) -> tuple[ValidationResult, bytes | None]:
    """One document through layer 3 (module-level: it runs in a worker process with ``--segur-jobs``):
    the result without its tree, and the summary of the tree (``summary_xml``), both picklable."""
    from conformance.cda.validate import validate_document

    art, expected, resident, sandbox, corridor = task
    result = validate_document(art.data, art.name, layers=("models",), expected_type=expected, dui=True,
                               resident=resident, test_environment=sandbox, corridor=corridor)
    return replace(result, tree=None), summary_xml(result.tree)


def summary_xml(tree: Any) -> bytes | None:
    """The parts of a parsed CDA the suites read after layer 3 (root, ``title``, ``code``), serialised:
    keeping 10,000 full trees would hold every document in memory. None stays None (unreadable document)."""
    if tree is None:
        return None
    from copy import deepcopy

    from lxml import etree

    root = tree.getroot()
    small = etree.Element(root.tag, nsmap=root.nsmap)
    for tag in ("title", "code"):
        child = root.find(f"{{urn:hl7-org:v3}}{tag}")
        if child is not None:
            copy = deepcopy(child)
            copy.tail = None
            del copy[:]  # attributes and text only
            small.append(copy)
    return bytes(etree.tostring(small))


def summary_tree(summary: bytes | None) -> Any:
    """The summary as the tree ``ValidationResult.tree`` expects (it is our own serialisation)."""
    if summary is None:
        return None
    from lxml import etree

    return etree.ElementTree(etree.fromstring(summary, etree.XMLParser(resolve_entities=False, no_network=True)))


def artefact_jobs(config: pytest.Config) -> int:
    """Worker processes for the per-document checks of artefact mode (``--segur-jobs``/SEGUR_JOBS, run
    ``--jobs``); 1 when not given or not a positive number."""
    value = _plugin_option(config, "segur_jobs") or 1
    try:
        return max(1, min(64, int(value)))
    except (TypeError, ValueError):
        return 1


def use_pytest_console(config: pytest.Config) -> None:
    """Progress lines of long artefact folders go to pytest's terminal, past its output capture."""
    from conformance.sandbox.artefacts import set_console

    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if capman is None or reporter is None:
        set_console(None)
        return
    first = [True]

    def write(text: str) -> None:
        with capman.global_and_fixture_disabled():
            if first[0]:  # leave pytest's progress line as it is
                first[0] = False
                text = "\n" + text.lstrip("\r")
            reporter.write(text, flush=True)

    set_console(write, "en" if _plugin_option(config, "segur_lang") == "en" else "fr")


def _plugin_option(config: pytest.Config, dest: str) -> str | None:
    """A segur option as the plugin resolves it (command line, then environment, then ini); None when the
    plugin's options are not registered (``-p no:segur_conformance``)."""
    try:
        return _option(config, dest)
    except (KeyError, ValueError):
        return None


def type_hint_from_name(name: str) -> str | None:
    """Artefact mode: the document type the vendor declares by the file name (``PPA-….xml``, ``DLU.xml``).

    Without it a document whose code is wrong would merely be typed as something else; with it the
    harness knows what was meant, as it does in sandbox mode (docs/artefacts.md).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1].upper()
    for prefix in ("CDA-", "CDA_"):
        base = base.removeprefix(prefix)
    stem = base.rsplit(".", 1)[0]
    for code in _type_codes_longest_first():
        upper = code.upper()
        if stem == upper or (stem.startswith(upper) and stem[len(upper)] in "-_."):
            return code
    return None



@functools.cache
def _type_codes_longest_first() -> tuple[str, ...]:
    """The document-type codes of the packaged list, read once (a folder of 10,000 documents asks each)."""
    from conformance.profiles import document_types

    return tuple(sorted(document_types(), key=len, reverse=True))


def stalled_productions(documents: list[Artefact]) -> tuple[str, str] | None:
    """(reason_fr, reason_en) when the candidate never finished producing some document, else None.

    A stalled answer is no evidence either way: the proofs that needed the document are "not evaluated"
    (prerequisite failed: document production), never failed."""
    stalled = [d for d in documents if (getattr(d, "meta", None) or {}).get("timeout")]
    if not stalled:
        return None
    names = ", ".join(getattr(d, "name", "?") for d in stalled)
    return (f"prérequis en échec : production de document non aboutie ({names}) — {stalled[0].problem}",
            f"failed prerequisite: document production never completed ({names}) — "
            f"{stalled[0].meta.get('timeout_en', '')}")
