"""Imported entries into the catalogue: merged with ours (official texts win, our knowledge of how each
proof is produced survives), written as a catalogue file the loader accepts, read back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from conformance.requirements import (
    PROOF_FIELDS,
    REQUIREMENT_FIELDS,
    SCENARIO_FIELDS,
    CatalogueError,
    known_corridors,
    load_catalogue_file,
)

# What merge_into keeps from our own entries when proof ids match.
KEPT_PROOF_FIELDS = ("method", "manual_reason", "kind")


def _clean(entry: dict[str, Any]) -> dict[str, Any]:
    """Keep only catalogue fields (so ``Requirement.to_dict()`` output can be merged too)."""
    out = {k: v for k, v in entry.items() if k in REQUIREMENT_FIELDS and v not in ("", None, [])}
    out["scenarios"] = [
        {**{k: v for k, v in s.items() if k in SCENARIO_FIELDS},
         "proofs": [{k: v for k, v in p.items() if k in PROOF_FIELDS and (v != "" or k == "kind")}
                    for p in s.get("proofs", [])]}
        for s in entry.get("scenarios", [])
    ]
    for scenario in out["scenarios"]:
        for proof in scenario["proofs"]:
            proof.setdefault("verification", [])
    return out


def merge_into(existing_entries: Iterable[dict[str, Any]], imported: Iterable[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Official texts win; our knowledge of how each proof is produced survives.

    For a requirement in both lists: the imported entry (statement, title, nature, criticité,
    scenarios, proofs, ``verified: V``) replaces ours, except that for every proof id found in both
    we keep our ``method``, ``manual_reason`` and ``kind`` (and our points of verification when the
    REM gave none); corridors and refs are united; our ``socle`` stays when the REM names none.
    Requirements only in ``existing_entries`` stay as they are; new ones are appended. An entry read
    from a Squash TM export (no proofs in it) keeps our scenarios whole.
    """
    merged: list[dict[str, Any]] = [_clean(e) for e in existing_entries]
    index = {e["id"]: i for i, e in enumerate(merged)}
    corridor_order = known_corridors()
    for raw in imported:
        official = _clean(raw)
        position = index.get(official["id"])
        if position is None:
            index[official["id"]] = len(merged)
            merged.append(official)
            continue
        ours = merged[position]
        if raw.get("_squash") and ours.get("scenarios"):
            # a Squash export holds no proofs: our scenarios (and what we automate) stay
            official["scenarios"] = ours["scenarios"]
        our_proofs = {p["id"]: p for s in ours.get("scenarios", []) for p in s.get("proofs", [])}
        for scenario in official["scenarios"]:
            for proof in scenario["proofs"]:
                mine = our_proofs.get(proof["id"])
                if mine is None:
                    continue
                for key in KEPT_PROOF_FIELDS:
                    if key in mine:
                        proof[key] = mine[key]
                    elif key == "manual_reason":
                        proof.pop(key, None)
                if not proof.get("verification") and mine.get("verification"):
                    proof["verification"] = list(mine["verification"])
        result = dict(official)
        result["corridors"] = [c for c in corridor_order if c in set(ours.get("corridors", [])) | set(official["corridors"])]
        refs = list(dict.fromkeys([*ours.get("refs", []), *official.get("refs", [])]))
        if refs:
            result["refs"] = refs
        if "socle" not in result and ours.get("socle"):
            result["socle"] = ours["socle"]
        merged[position] = _order(result)
    return merged


def _order(entry: dict[str, Any]) -> dict[str, Any]:
    """Fields in the documented order, so diffs of written catalogues stay readable."""
    ordered = {k: entry[k] for k in REQUIREMENT_FIELDS if k in entry and k != "scenarios"}
    ordered["scenarios"] = entry.get("scenarios", [])
    return ordered


def write_catalogue(entries: Iterable[dict[str, Any]], path: Path | str, *, header: str = "") -> int:
    """Write entries as a catalogue file the loader accepts; return the number of requirements.

    The file is checked with the loader before it replaces the target, so a bad import never
    leaves a broken catalogue behind (the CatalogueError names the temporary file's lines).
    """
    path = Path(path)
    items = [_order(_clean(e)) for e in entries]
    text = yaml.safe_dump({"requirements": items}, allow_unicode=True, sort_keys=False, width=100,
                          default_flow_style=False)
    comment = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(comment + text, encoding="utf-8")
    try:
        count = len(load_catalogue_file(tmp))
    except CatalogueError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return count


def read_entries(path: Path | str) -> list[dict[str, Any]]:
    """The raw entries of a catalogue file (validated first, so a merge starts from good data)."""
    load_catalogue_file(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    default_section = data.get("section")
    entries = list(data.get("requirements") or [])
    if default_section:
        for entry in entries:
            entry.setdefault("section", default_section)
    return entries
