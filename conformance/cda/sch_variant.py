"""A schematron stylesheet cut down to the patterns that may run on a document (issue 16, start-up).

IHE.sch has 231 patterns, ModelesDeContenusCDA 141, Modeles_ANS 67; a VSM or a DLU can run about one
in ten of them (their guards, :class:`conformance.cda.fastsch_cache.FastPlan`). Compiling the whole
stylesheet takes ≈ 0.7 s of a ``validate`` command's start-up for those three; compiling only what a
document can run takes a fraction of it. :func:`variant` writes that stylesheet for one ``sc:run``
value: each guard of a pattern that cannot run is removed from the main template, then every template
of a mode no remaining instruction can reach. With that ``sc:run`` value the result is the same as
the whole stylesheet's, by construction:

* a guard that was removed is one whose test is false for that value (``substring($sc:run, N, 1)``
  is ``0``), so its content never ran; the ``svrl:active-pattern`` element it follows is kept;
* a template is removed only if none of its modes is reachable: no ``apply-templates`` left anywhere
  in the stylesheet names one of them (``#current`` is followed through the template that holds it),
  so it could never be selected; named templates, functions, keys and variables are all kept.

The runner (:mod:`conformance.cda.sch_run`, :func:`conformance.cda.sch_compile.executable_for`) keeps a
few variants per stylesheet, each used for the documents with exactly its ``sc:run`` value; a value
met after :data:`MAX_VARIANTS` of them runs the whole stylesheet, compiled then, once: a varied corpus
never pays more than a few small compiles. Start-up (one VSM, ``validate --cisis-kit``): IHE 0.28 →
0.02 s, ModelesDeContenusCDA 0.18 → 0.03 s, Modeles_ANS 0.23 → 0.01 s.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator

from lxml import etree

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
_X = f"{{{XSL_NS}}}"
_GUARD = re.compile(r"\$sc:run = '\*' or substring\(\$sc:run, (\d+), 1\) eq '1'")
MAX_VARIANTS = 4  # per stylesheet; then the whole stylesheet is compiled (and kept) instead
MIN_SKIPPED = 20  # fewer patterns to leave out: not worth a compile of its own
MIN_GUARDED = 40  # a stylesheet with fewer guarded patterns is compiled whole at start-up
ENV_VARIANTS = "SEGUR_CDA_VARIANTS"  # "0": always compile the whole stylesheet at start-up


def enabled() -> bool:
    return os.environ.get(ENV_VARIANTS, "").strip() != "0"


_every_document = threading.local()


def every_document_active() -> bool:
    return getattr(_every_document, "on", False)


def max_variants() -> int:
    return 1 << 30 if every_document_active() else MAX_VARIANTS


@contextlib.contextmanager
def every_document() -> Iterator[None]:
    """Within this block (this thread), every document gets its variant, however many there are: the
    equivalence test proves each variant against the official stylesheet, not only the first few."""
    before = every_document_active()
    _every_document.on = True
    try:
        yield
    finally:
        _every_document.on = before


def skipped_guards(run: str) -> int:
    return run.count("0")


def variant(xslt_text: str, run: str, patterns: int) -> str | None:
    """The stylesheet without what cannot run when ``sc:run`` is ``run`` (one character for each of the
    plan's ``patterns``); None when nothing is left out or the value or the stylesheet is not of the
    expected shape (the caller then uses the whole stylesheet)."""
    if len(run) != patterns or set(run) - {"0", "1"}:
        return None
    parser = etree.XMLParser(remove_blank_text=False, huge_tree=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xslt_text.encode("utf-8"), parser)
    if not _plain_modes(root):
        return None
    main = next((t for t in root.iterchildren(_X + "template") if t.get("match") == "/" and not t.get("mode")), None)
    if main is None:
        return None
    removed = 0
    for guard in list(main.iter(_X + "if")):
        m = _GUARD.fullmatch((guard.get("test") or "").strip())
        if m is None:
            continue
        pos = int(m.group(1))
        if pos > len(run):
            return None  # a run value for another stylesheet
        if run[pos - 1] == "0":
            parent = guard.getparent()
            if parent is None:
                return None
            _remove_keeping_tail(guard)
            removed += 1
    if not removed:
        return None
    _drop_unreachable_templates(root)
    return etree.tostring(root, encoding="unicode")


def _plain_modes(root: etree._Element) -> bool:
    """Modes this module can follow as plain names: no ``default-mode`` (an ``apply-templates`` without
    a mode would not mean the unnamed mode), no ``#default``/``#unnamed`` in a template's modes (it
    runs in the initial mode too), no prefixed mode name (two prefixes could name one mode), no
    ``xsl:mode`` declaration, no imported or included module (independent review: each of these
    made a variant lose output in a hand-made stylesheet). The generated stylesheets have none."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.get("default-mode") is not None or el.get(f"{_X}default-mode") is not None:
            return False
        if el.tag in (_X + "mode", _X + "import", _X + "include", _X + "use-package"):
            return False
        if el.tag in (_X + "template", _X + "apply-templates"):
            for m in (el.get("mode") or "").split():
                if m in ("#default", "#unnamed") or ":" in m or m.startswith("Q{"):
                    return False
    return True


def _remove_keeping_tail(el: etree._Element) -> None:
    parent = el.getparent()
    assert parent is not None
    tail = el.tail or ""
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _template_modes(t: etree._Element) -> list[str]:
    return (t.get("mode") or "").split()


def _drop_unreachable_templates(root: etree._Element) -> None:
    """Remove each template that has modes, none of which any remaining ``apply-templates`` can reach."""
    templates = [t for t in root.iterchildren(_X + "template")]
    by_mode: dict[str, list[etree._Element]] = {}
    for t in templates:
        for m in _template_modes(t):
            by_mode.setdefault(m, []).append(t)
    reachable: set[str] = set()
    # the roots: templates of the unnamed mode (the main one), of every mode, and named templates (a
    # call-template reaches them whatever their modes: independent review)
    todo: list[etree._Element] = [t for t in templates
                                  if not t.get("mode") or "#all" in _template_modes(t) or t.get("name") is not None]
    todo += [el for el in root if el.tag != _X + "template"]  # functions, variables, keys: everything else
    seen: set[int] = set()
    while todo:
        el = todo.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        own = _template_modes(el) if el.tag == _X + "template" else []
        for at in el.iter(_X + "apply-templates"):
            mode = (at.get("mode") or "#default").strip()
            names = own if mode == "#current" else [mode]
            for name in names:
                if name not in reachable:
                    reachable.add(name)
                    todo.extend(by_mode.get(name, []))
    for t in templates:
        modes = _template_modes(t)
        if modes and "#all" not in modes and t.get("name") is None and not any(m in reachable for m in modes):
            _remove_keeping_tail(t)
