"""The commands over the importer: ``segur-conformance import-rem``, ``requirements --diff OTHER`` and
``python -m conformance.catalogue_import carry-wording``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.catalogue_import.merge import merge_into, read_entries, write_catalogue
from conformance.catalogue_import.sheets import SpreadsheetError, shorten
from conformance.catalogue_import.wording import carry_ans_wording
from conformance.catalogue_import.workbook import read_rem_workbook
from conformance.requirements import Catalogue, CatalogueError, load_catalogue_file


def import_command(xlsx: Path | str, out: Path | str, wave: int, corridors: Sequence[str]) -> int:
    """``segur-conformance import-rem``: import, merge into ``out`` when it exists, write. Exit code.

    Rows that cannot be mapped are printed one per line (file, sheet, row, why) and left out; the
    others are written. 0 when something was written, 2 when nothing could be (nothing written).
    """
    out = Path(out)
    name = Path(xlsx).name
    try:
        result = read_rem_workbook(xlsx, wave=wave, corridors=corridors)
    except SpreadsheetError as exc:
        print(f"import-rem : échec\n{exc}", file=sys.stderr)
        return 2
    imported = result.entries
    layouts = ", ".join(f"{sheet} ({layout})" for sheet, layout in result.layouts.items()) or "aucune"
    skipped = result.lines()
    if skipped:
        print("\n".join(skipped), file=sys.stderr)
    if not imported:
        print(f"import-rem : échec, 0 exigence importée de {name} ({len(skipped)} ligne(s) ci-dessus ; feuilles "
              f"reconnues : {layouts}) ; {out} inchangé", file=sys.stderr)
        return 2
    origin = "du REM officiel" if set(result.layouts.values()) == {"REM"} else "de l'export Squash TM"
    try:
        existing = read_entries(out) if out.exists() else []
        entries = merge_into(existing, imported) if existing else imported
        count = write_catalogue(entries, out, header=(
            f"Importé {origin} {name} (vague {wave}, {', '.join(corridors)}) par segur-conformance import-rem.\n"
            f"Les preuves restent manuelles sauf celles que le banc automatise (conservées lors de la fusion)."))
    except CatalogueError as exc:
        print(f"import-rem : échec\n{exc}", file=sys.stderr)
        return 2
    merged = len({e["id"] for e in existing} & {e["id"] for e in imported})
    ignored = f" ; {len(result.problems)} ligne(s) ignorée(s), détail ci-dessus" if result.problems else ""
    print(f"{name} (feuilles {layouts}) : {len(imported)} exigences importées ({merged} fusionnées avec "
          f"l'existant), {count} exigences écrites dans {out}{ignored}")
    return 0



# ---------------------------------------------------------------------------------------------
# ``segur-conformance requirements --diff OTHER``
# ---------------------------------------------------------------------------------------------
def load_other_catalogue(path: Path | str) -> tuple[Catalogue, list[str]]:
    """A catalogue folder, or a single catalogue file; for a file, also the sections it covers."""
    from conformance.requirements import Catalogue, load_catalogue

    path = Path(path)
    if path.is_dir():
        return load_catalogue(path), []
    requirements = load_catalogue_file(path)
    return Catalogue(requirements), sorted({r.section for r in requirements})


def diff_command(other_path: Path | str, *, fmt: str = "text", corridor: str | None = None) -> int:
    """Print what ``other_path`` changes against the current catalogue. 0: identical, 1: differences.

    A single file is compared with the current requirements of the sections it holds (an import of one
    REM does not show every other section as removed). Raises CatalogueError / OSError on bad input."""
    import json

    from conformance.requirements import catalogue_metadata, diff_catalogues, load_catalogue

    base = load_catalogue()
    other, sections = load_other_catalogue(other_path)
    old = [r for r in base if (not sections or r.section in sections) and (corridor is None or corridor in r.corridors)]
    new = [r for r in other if corridor is None or corridor in r.corridors]
    diff = diff_catalogues(old, new)
    meta = catalogue_metadata(catalogue=base)
    count = sum(len(v) for v in diff.values())
    if fmt == "json":
        print(json.dumps({"base": meta, "other": str(other_path), "sections": sections, "corridor": corridor,
                          **diff}, ensure_ascii=False, indent=1))
        return 1 if count else 0
    scope = f" ; sections comparées : {', '.join(sections)}" if sections else ""
    scope += f" ; couloir {corridor}" if corridor else ""
    print(f"# catalogue actuel : version {meta.get('version')}, SHA-256 {str(meta.get('sha256'))[:16]}…, "
          f"{len(old)} exigences ; {other_path} : {len(new)} exigences{scope}")
    for entry in diff["added"]:
        print(f"+ {entry['id']:<24} {entry['title']}  [ajoutée, {entry['verified']}]")
    for entry in diff["removed"]:
        print(f"- {entry['id']:<24} {entry['title']}  [retirée]")
    for entry in diff["reworded"]:
        print(f"~ {entry['id']:<24} {entry['title']}  [reformulée]")
        print(f"    avant : {shorten(entry['before'], 300)}")
        print(f"    après : {shorten(entry['after'], 300)}")
    for entry in diff["changed"]:
        fields = " ; ".join(f"{name} {a!r} → {b!r}" for name, (a, b) in entry["fields"].items())
        print(f"* {entry['id']:<24} {fields}")
    print(f"# {len(diff['added'])} ajoutée(s), {len(diff['removed'])} retirée(s), {len(diff['reworded'])} "
          f"reformulée(s), {len(diff['changed'])} autre(s) changement(s)")
    return 1 if count else 0


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.catalogue_import carry-wording --source XLSX SHEET ORIGIN … [--dry-run]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m conformance.catalogue_import")
    sub = parser.add_subparsers(dest="command", required=True)
    carry = sub.add_parser("carry-wording", help="put ANS's public texts into the catalogue statements")
    carry.add_argument("--source", nargs=3, action="append", required=True, metavar=("XLSX", "SHEET", "ORIGIN"),
                       help="a Squash TM export, its sheet with REQ_VERSION_* columns, and its origin "
                            "(repository@commit, path) written into every source; repeatable, first wins")
    carry.add_argument("--catalogue", type=Path, default=None, help="catalogue folder (default: the packaged one)")
    carry.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    from conformance.requirements import default_directory

    sources = [(Path(xlsx), sheet, origin) for xlsx, sheet, origin in args.source]
    summary = carry_ans_wording(args.catalogue or default_directory(), sources, write=not args.dry_run)
    changes: dict[tuple[str, str], int] = {}
    for before, after in summary["grades"].values():
        changes[(before, after)] = changes.get((before, after), 0) + 1
    print(f"{len(summary['carried'])} énoncés ANS repris, {len(summary['kept'])} paraphrases conservées")
    for (before, after), count in sorted(changes.items()):
        print(f"  {before} -> {after} : {count}")
    print(f"  dont OBSOLETE chez l'ANS (note conservée) : {len(summary['obsolete'])} {summary['obsolete']}")
    for rid, ours, ans in summary["nature_differs"]:
        print(f"  nature différente : {rid} catalogue {ours}, ANS {ans}")
    for rid, why in summary["kept"].items():
        print(f"  conservée : {rid} ({why})")
    return 0
