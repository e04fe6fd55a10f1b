"""Import ANS's REM spreadsheets into our catalogue format.

Why: our catalogue is mostly paraphrased or inferred (rem.md §0). When a vendor or ANS hands us a
REM export, this turns it into catalogue YAML so the real texts replace ours without code changes,
while ``merge_into`` keeps what only we know: which proofs the harness automates, and why the others
stay manual.

Two layouts, told apart by the header row (found by name in the first rows of each sheet):

- **published REM table** (Squash "segur-rapport" export, rem.md §4.3; accents/case/spaces ignored):
  Exigence conditionnelle · Profil · ID Section · Section · Bloc · Fonction · Nature de l'exigence ·
  N° exigence · Énoncé · N° scénario · Scénario de conformité · N° preuve 1..10 / Preuve 1..10, and
  optionally Criticité, points de vérification, référence exigence socle. One requirement may span
  several rows (one per scenario); continuation rows repeat the id or leave it blank. ``verified: V``.
- **Squash TM requirement export** (ANS's own tool, ``ansforge/segur-squash-plugins`` ``macros/``): a
  sheet with ``REQ_VERSION_REFERENCE``, ``REQ_VERSION_NAME``, ``REQ_VERSION_DESCRIPTION`` (HTML, cleaned
  to text with lxml.html), ``REQ_VERSION_CATEGORY`` (CRI / PRECO: the nature), ``REQ_VERSION_CRITICALITY``
  (MINOR / MAJOR / CRITICAL), ``REQ_VERSION_STATUS``, custom fields ``REQ_VERSION_CUF_SECTION`` (``<ID
  section>_<label>``), ``_BLOC``, ``_FONCTION``, ``_PROFIL``; optional sheets ``LINK_REQ_REQ`` (a REM
  requirement and its socle parent, ``SEGUR_PARENT``) and ``LINK_REQ_TC`` (its test cases, i.e. its
  scenarios). Such an export carries no proofs: each requirement gets one manual proof per linked test
  case (or one placeholder scenario), and a merge keeps our own scenarios. Status APPROVED gives
  ``verified: V``; WORK_IN_PROGRESS / UNDER_REVIEW (drafts) give ``Vd``; OBSOLETE rows are skipped.

``import_rem_spreadsheet`` is strict (any bad row: one ``SpreadsheetError`` listing them all);
``read_rem_workbook`` and ``import-rem`` import the rows that map and name every other row in one line
(file, sheet, row, why).

The package, one job a module: ``sheets`` (header normalisation, cells, vocabularies, errors, worksheet
rows), ``html_text`` (Squash HTML to text), ``rem_layout`` and ``squash_layout`` (each layout's header and
rows), ``workbook`` (layout detection and the whole workbook), ``merge`` (merge into, write and read a
catalogue file), ``wording`` (ANS texts carried into our catalogue), ``commands`` (``import-rem``,
``requirements --diff``, ``carry-wording``).
"""

from __future__ import annotations

from conformance.catalogue_import.commands import diff_command, import_command, load_other_catalogue
from conformance.catalogue_import.html_text import html_to_text
from conformance.catalogue_import.merge import merge_into, read_entries, write_catalogue
from conformance.catalogue_import.rem_layout import guess_kind
from conformance.catalogue_import.sheets import DEFAULT_MANUAL_REASON, SpreadsheetError, normalise_header
from conformance.catalogue_import.wording import (
    AnsText,
    carry_ans_wording,
    pick_ans_text,
    set_requirement_fields,
    squash_texts,
    vague1_successors,
)
from conformance.catalogue_import.workbook import RemImport, import_rem_spreadsheet, read_rem_workbook

__all__ = [
    "DEFAULT_MANUAL_REASON", "AnsText", "RemImport", "SpreadsheetError", "carry_ans_wording", "diff_command",
    "guess_kind", "html_to_text", "import_command", "import_rem_spreadsheet", "load_other_catalogue", "merge_into",
    "normalise_header", "pick_ans_text", "read_entries", "read_rem_workbook", "set_requirement_fields",
    "squash_texts", "vague1_successors", "write_catalogue",
]
