"""The quick stylesheet: the fast XSLT without its report-writing branches, for start-up (issue 16).

A generated schematron XSLT writes each failed assert in the ``xsl:otherwise`` of a ``xsl:choose``
(``<xsl:when test="T"/><xsl:otherwise><svrl:failed-assert …>``) and each successful report in an
``xsl:if``. Those branches — location paths, message texts, ``value-of``s — are a third of the
stylesheet and of its compile time, and on a conforming document none of them runs.

The quick variant replaces the content of each such branch by one processing instruction,
``<?sc-fail?>``, and is the one compiled at start-up. It runs the same tests in the same order, so:

* if its output holds no ``<?sc-fail?>``, no branch ran, and everything else it wrote is what the
  full stylesheet writes: the output **is** the full stylesheet's SVRL;
* if it holds one, a branch would have run: the full stylesheet (compiled then, once per process)
  runs the document again, and its SVRL is the answer — including any error a branch raises.

So the SVRL handed on is always the full stylesheet's, byte for byte (``tests/test_cda_equivalence.py``
checks it against the official engine, mutations included). The marker cannot come from the
document: text and attribute values are escaped by the serialiser (``<`` → ``&lt;``), and the
generated stylesheets write no processing instruction.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

# part of the cached quick stylesheet's file name: the digest of this module (another revision of the
# rewrite never reads a quick stylesheet stored by this one)
QUICK_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
ENV_QUICK = "SEGUR_CDA_QUICK"  # "0": compile the full stylesheet at start-up (no quick variant)

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
MARKER_NAME = "sc-fail"
MARKER = "<?" + MARKER_NAME  # as serialised: <?sc-fail?>
_X = f"{{{XSL_NS}}}"
_S = f"{{{SVRL_NS}}}"


@dataclass(frozen=True)
class Quick:
    xslt: str
    branches: int  # report-writing branches replaced by the marker


def _only_child(parent: etree._Element, child: etree._Element) -> bool:
    """``child`` is the only content of ``parent`` (no other node, no text but whitespace)."""
    if (parent.text or "").strip() or (child.tail or "").strip():
        return False
    return len(parent) == 1


def quick(xslt_text: str) -> Quick:
    """The quick variant of a generated (fast) schematron XSLT; ``branches == 0``: nothing to gain."""
    parser = etree.XMLParser(remove_blank_text=False, huge_tree=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xslt_text.encode("utf-8"), parser)
    if "<?" + MARKER_NAME in xslt_text or f'name="{MARKER_NAME}"' in xslt_text:
        return Quick(xslt_text, 0)  # the marker must be ours alone
    branches = 0
    for out in list(root.iter(_S + "failed-assert", _S + "successful-report")):
        parent = out.getparent()
        if parent is None or not _only_child(parent, out):
            continue
        wanted = _X + ("otherwise" if out.tag == _S + "failed-assert" else "if")
        if parent.tag != wanted:
            continue
        parent.remove(out)
        pi = etree.SubElement(parent, _X + "processing-instruction")
        pi.set("name", MARKER_NAME)
        branches += 1
    if not branches:
        return Quick(xslt_text, 0)
    return Quick(etree.tostring(root, encoding="unicode"), branches)


def enabled() -> bool:
    return os.environ.get(ENV_QUICK, "").strip() != "0"


def needs_full(output: str) -> bool:
    """The quick stylesheet met a branch that writes a result: run the full one."""
    return MARKER in output
