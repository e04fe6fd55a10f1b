"""``segur-conformance``: the command line. Command and option names are public interface.

Exit codes: 0 conform, 1 something required failed (or could not be evaluated), 2 usage or
configuration error, 130 interrupted. Errors are one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance import __version__

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


EXIT_CODES_HELP = ("Exit codes: 0 every mandatory requirement met, 1 one failed or could not be evaluated, "
                   "2 usage or configuration error, 130 interrupted.")


class UsageProblem(Exception):
    """A user mistake: printed as one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageProblem as exc:
        print(f"segur-conformance: erreur : {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("segur-conformance: interrompu", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    corridors = _corridor_choices()  # reads every corridor profile: once, for the two help texts
    parser = argparse.ArgumentParser(
        prog="segur-conformance",
        description="Ségur DUI conformance harness (INS, DMP, MSSanté, Pro Santé Connect, CDA). "
                    "Harnais de conformité Ségur DUI. 'segur-conformance COMMAND --help' for each command.",
        epilog="run: " + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"segur-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        kw.setdefault("description", kw.get("help", "").capitalize() + ".")
        return _add(name, **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    run = sub.add_parser("run", help="run a corridor profile against a sandbox or an artefact folder",
                         epilog="Without --sandbox-url or --artefacts, runs against the embedded reference "
                                "sandbox. " + EXIT_CODES_HELP)
    run.add_argument("--profile", type=_profile_name,
                     help=f"{corridors} (profiles/corridors/; default {_default_profile()})")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--sandbox-url", help="candidate sandbox base URL (contract v1)")
    target.add_argument("--artefacts", type=Path, help="artefact folder (cda/, mss/, dmp/)")
    run.add_argument("--report-dir", type=Path, help="where to write the report (default reports/<profile>-<time>)")
    run.add_argument("--lang", choices=("fr", "en"), default="fr", help="report language (default fr)")
    run.add_argument("--cisis-kit", type=Path, help="path to the ANS CI-SIS kit")
    run.add_argument("--dmp-trust", type=Path, help="PEM file or folder: the candidate's test trust anchors "
                                                    "(IGC-Santé test chain) for VIHF and XAdES signatures")
    run.add_argument("--defect", action="append", default=[],
                     help="defect switch for the embedded reference sandbox (repeatable)")
    run.add_argument("--jobs", "-j", type=int, default=1, help="parallel workers: tests over pytest-xdist workers "
                     "(sandbox), documents over worker processes (--artefacts)")
    run.add_argument("--connect-timeout", type=_seconds, metavar="S",
                     help="seconds to connect to the sandbox, per call (default 10) [env SEGUR_CONNECT_TIMEOUT]")
    run.add_argument("--first-byte-timeout", type=_seconds, metavar="S",
                     help="seconds the sandbox may stay silent before answering, per call (default 60) "
                          "[env SEGUR_FIRST_BYTE_TIMEOUT]")
    run.add_argument("--answer-timeout", type=_seconds, metavar="S",
                     help="seconds for the sandbox's whole answer, per call (default 120): a call past it is "
                          "'no complete answer within S s', its proofs not evaluated [env SEGUR_ANSWER_TIMEOUT]")
    run.add_argument("--select", "-k", help="only tests matching this pytest -k expression")
    run.add_argument("--pdf", action="store_true",
                     help="also print the report to report.pdf (headless Chromium via Playwright; best effort) "
                          "[env SEGUR_PDF=1]")
    run.add_argument("--verbose", "-v", action="store_true", help="one line per test")
    run.set_defaults(func=cmd_run)

    req = sub.add_parser("requirements", help="list the requirement catalogue of a profile")
    req.add_argument("--profile", type=_profile_name, help=f"{corridors} (default: all)")
    req.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    req.add_argument("--diff", type=Path, metavar="OTHER",
                     help="show the requirements OTHER (a catalogue .yaml file or folder) adds, removes or "
                          "rewords against this catalogue; exit 1 when they differ")
    req.set_defaults(func=cmd_requirements)

    sbx = sub.add_parser("sandbox", help="start the reference sandbox (a compliant DUI simulator)")
    sbx.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (default 8700)")
    sbx.add_argument("--defect", action="append", default=[], help="inject a defect (repeatable)")
    sbx.add_argument("--list-defects", action="store_true", help="list the defect switches and exit")
    sbx.add_argument("--dmp-trust-out", type=Path, help="write the sandbox's test trust anchor (PEM) to this file, "
                                                        "for 'run --dmp-trust'")
    sbx.set_defaults(func=cmd_sandbox)

    val = sub.add_parser("validate", help="offline checks of artefacts: CDA (.xml), MSSanté (.eml), DMP (.http)",
                         epilog="Exit codes: 0 conform, 1 not conform, 2 usage error.")
    val.add_argument("files", nargs="+", type=Path, help="artefact files (.xml CDA, .eml, .http or .xml SOAP)")
    val.add_argument("--cisis-kit", type=Path, help="path to the ANS CI-SIS kit (enables XSD and schematrons)")
    val.add_argument("--lang", choices=("fr", "en"), default="fr", help="message language (default fr)")
    val.add_argument("--dmp-trust", type=Path, help="PEM file or folder: test trust anchors for the VIHF and XAdES "
                                                    "signatures of .http captures [env SEGUR_DMP_TRUST]")
    val.add_argument("--warm", action="store_true", help="CDA schematrons through a warm local worker that keeps "
                     "the compiled stylesheets between commands (started on demand, stops when idle) [env SEGUR_CDA_WARM=1]")
    val.set_defaults(func=cmd_validate)

    ver = sub.add_parser("verify", help="check a report bundle against its signed manifest")
    ver.add_argument("report_dir", type=Path, help="report folder (holds manifest.json and manifest.sig)")
    ver.add_argument("--public-key", type=_key_source,
                     help="the issuer's Ed25519 public key, a PEM file or the base64 printed in the report: "
                          "proves origin, not only integrity")
    ver.add_argument("--reviewer-key", type=_key_source, help="the checker's Ed25519 public key, when the bundle "
                                                              "was counter-signed by 'review'")
    ver.set_defaults(func=cmd_verify)

    att = sub.add_parser("attach", help="add the vendor's files for a manual proof to a report bundle (re-signed)")
    att.add_argument("report_dir", type=Path, help="report folder (results.json, manifest.json)")
    att.add_argument("proof_id", nargs="?", help="a manual proof id of the report, e.g. SC.INS/va1.58.01.01")
    att.add_argument("files", nargs="*", type=Path, help="screenshots, videos, CNDA certificate, logs…")
    att.add_argument("--from", dest="attestations", type=Path, metavar="YAML",
                     help="attach many at once: a YAML list of {proof, files, note, by} (paths relative to it)")
    att.add_argument("--note", default="", help="what the files show")
    att.add_argument("--by", default="", help="who supplies them (default SEGUR_SIGNER, then the user name)")
    att.set_defaults(func=cmd_attach)

    rev = sub.add_parser("review", help="the checker's decision on a manual proof, counter-signed with their own key")
    rev.add_argument("report_dir", type=Path, help="report folder (results.json, manifest.json)")
    rev.add_argument("proof_id", help="a manual proof id of the report")
    decision = rev.add_mutually_exclusive_group(required=True)
    decision.add_argument("--accept", dest="decision", action="store_const", const="accepted",
                          help="the manual evidence attached to the proof is sufficient")
    decision.add_argument("--reject", dest="decision", action="store_const", const="rejected",
                          help="the manual evidence is insufficient: the proof, and its requirement, fail")
    rev.add_argument("--note", required=True, help="the reason for the decision")
    rev.add_argument("--key", required=True, type=Path, help="the checker's own Ed25519 private key (PEM; created "
                                                             "when absent)")
    rev.add_argument("--by", default="", help="the checker's name (default the user name)")
    rev.set_defaults(func=cmd_review)

    dif = sub.add_parser("diff", help="requirements that regressed or were fixed between two runs")
    dif.add_argument("old", type=Path, help="earlier report folder or results.json")
    dif.add_argument("new", type=Path, help="later report folder or results.json")
    dif.add_argument("--lang", choices=("fr", "en"), default="fr", help="output language (default fr)")
    dif.set_defaults(func=cmd_diff)

    mer = sub.add_parser("merge", help="merge results of several runs or shards into one report")
    mer.add_argument("inputs", nargs="+", type=Path, help="report folders or results.json files")
    mer.add_argument("--out", type=Path, required=True, help="folder for the merged report")
    mer.add_argument("--lang", choices=("fr", "en"), default="fr", help="report language (default fr)")
    mer.set_defaults(func=cmd_merge)

    exp = sub.add_parser("export", help="write report formats (html, junit, csv, xlsx) from a results file")
    exp.add_argument("results", type=Path, help="a results.json or the report folder holding it")
    exp.add_argument("--out", type=Path, required=True, help="output folder")
    exp.add_argument("--format", action="append", default=[],
                     help="html, junit, csv, xlsx or all (repeatable, comma-separated; default all)")
    exp.add_argument("--lang", choices=("fr", "en"), default="fr", help="report language (default fr)")
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import-rem", help="import ANS's official REM spreadsheet into a catalogue file")
    imp.add_argument("xlsx", type=Path, help="the ANS REM spreadsheet (.xlsx)")
    imp.add_argument("--out", type=Path, required=True, help="catalogue YAML file to write")
    imp.add_argument("--wave", type=int, choices=(1, 2), required=True, help="Ségur wave of this REM")
    imp.add_argument("--corridors", default="",
                     help="comma-separated corridors the requirements apply to (default: every corridor of "
                          "profiles/corridors/)")
    imp.set_defaults(func=cmd_import_rem)

    chk = sub.add_parser("check-contract", help="check a candidate sandbox's answers against docs/sandbox-api.yaml",
                         epilog="Drives every contract v1 route once against the harness's simulators and prints, "
                                "per route, what to fix. Exit codes: 0 conform, 1 something to fix, 2 unreachable "
                                "sandbox or usage error.")
    chk.add_argument("--sandbox-url", required=True, help="candidate sandbox base URL (contract v1)")
    chk.add_argument("--lang", choices=("fr", "en"), default="fr", help="output language (default fr)")
    chk.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON to FILE")
    chk.add_argument("--answer-timeout", type=_seconds, metavar="S",
                     help="seconds for each whole answer (default 120) [env SEGUR_ANSWER_TIMEOUT]")
    chk.set_defaults(func=cmd_check_contract)
    return parser


def _key_source(value: str) -> Path | str:
    """A key file when it exists, else the key itself (base64 of the raw key, as printed in the report)."""
    return Path(value) if os.path.exists(value) or "\n" in value or value.endswith((".pem", ".pub")) else value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of seconds in ]0, 86400]")
    return seconds


def _corridor_choices() -> str:
    from conformance.profiles import corridor_ids

    return " | ".join(corridor_ids())


def _default_profile() -> str:
    from conformance.profiles import default_profile

    return default_profile()


def _profile_name(value: str) -> str:
    """A corridor of the corridor folder (data), whatever its case and dashes."""
    from conformance.profiles import corridor_ids, normalise_name

    norm = normalise_name(value)
    known = corridor_ids()
    if norm not in known:
        raise argparse.ArgumentTypeError(f"unknown profile {value!r} (choose {', '.join(known)})")
    return norm


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    if args.artefacts is not None and not args.artefacts.is_dir():
        raise UsageProblem(f"--artefacts : {args.artefacts} n'est pas un dossier")
    if args.cisis_kit is not None and not (args.cisis_kit / "infrastructure" / "cda" / "CDA_extended.xsd").is_file():
        raise UsageProblem(f"--cisis-kit : {args.cisis_kit} n'est pas un kit CI-SIS "
                           "(infrastructure/cda/CDA_extended.xsd introuvable)")
    if args.defect and (args.sandbox_url or args.artefacts):
        raise UsageProblem("--defect ne s'applique qu'au bac à sable de référence intégré")
    if args.defect:
        reference = _reference()
        try:
            reference.validate(args.defect)
        except reference.UnknownDefect as exc:
            raise UsageProblem(str(exc)) from None
    args.profile = args.profile or _default_profile()
    report_dir = _new_report_dir(args.report_dir, args.profile)
    with tempfile.TemporaryDirectory(prefix="segur-run-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\naddopts =\n", encoding="utf-8")
        package_root = Path(__file__).resolve().parent.parent  # node ids read conformance/suites/...
        pytest_args = [
            "-c", str(ini), "--rootdir", str(package_root), "-p", "no:cacheprovider", "-p", "no:benchmark",
            "--pyargs", "conformance.suites",
            "--segur-profile", args.profile, "--segur-report", str(report_dir), "--segur-lang", args.lang,
            "-o", "console_output_style=progress", "--tb=no", "-q" if not args.verbose else "-v",
            "-W", "ignore::DeprecationWarning",
        ]
        if args.artefacts is not None:
            pytest_args += ["--artefacts", str(args.artefacts.resolve())]
        else:
            pytest_args += ["--sandbox-url", args.sandbox_url or "reference"]
        for defect in args.defect:
            pytest_args += ["--segur-defect", defect]
        if args.cisis_kit is not None:
            pytest_args += ["--cisis-kit", str(args.cisis_kit.resolve())]
        if args.dmp_trust is not None:
            pytest_args += ["--dmp-trust", str(args.dmp_trust.resolve())]
        for flag, seconds in (("--segur-connect-timeout", args.connect_timeout),
                              ("--segur-first-byte-timeout", args.first_byte_timeout),
                              ("--segur-answer-timeout", args.answer_timeout)):
            if seconds is not None:
                pytest_args += [flag, f"{seconds:g}"]
        if args.jobs > 1 and args.artefacts is not None:
            # artefact mode: the work is per document, so the documents (not the tests) go to N worker
            # processes (conformance/sandbox/artefacts.py stream_map); xdist would check them N times
            pytest_args += ["--segur-jobs", str(args.jobs)]
        elif args.jobs > 1:
            pytest_args += ["-n", str(args.jobs)]
        if args.select:
            pytest_args += ["-k", args.select]
        en = args.lang == "en"
        target = args.sandbox_url or (str(args.artefacts) if args.artefacts else
                                      "reference sandbox" if en else "bac à sable de référence")
        print(f"segur-conformance {__version__} — {'profile' if en else 'profil'} {args.profile} — "
              f"{'target:' if en else 'cible :'} {target}")
        if getattr(args, "pdf", False):
            os.environ["SEGUR_PDF"] = "1"  # read by conformance.report.bundle when the bundle is written
        started = time.time()
        code = pytest.main(pytest_args)
    return _summarise_run(report_dir, int(code), time.time() - started, args.lang)


def _new_report_dir(asked: Path | None, profile: str) -> Path:
    """A fresh, writable, empty report folder: a signed bundle must hold this run's files only."""
    if asked is not None:
        report_dir = asked.expanduser().resolve()
        if report_dir.exists() and not report_dir.is_dir():
            raise UsageProblem(f"--report-dir : {asked} existe et n'est pas un dossier")
        if report_dir.is_dir() and any(report_dir.iterdir()):
            raise UsageProblem(f"--report-dir : {asked} n'est pas vide ; un rapport signé ne doit contenir que "
                               "les fichiers de sa campagne : donnez un dossier neuf ou vide")
        candidates = [report_dir]
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = (Path("reports") / f"{profile}-{stamp}").resolve()
        candidates = [base] + [base.with_name(f"{base.name}-{n}") for n in range(2, 100)]
    for report_dir in candidates:
        try:
            report_dir.mkdir(parents=True, exist_ok=asked is not None)
        except FileExistsError:
            continue  # two runs in the same second: the second gets <profile>-<time>-2
        except OSError as exc:
            raise UsageProblem(f"impossible de créer le dossier de rapport {report_dir} "
                               f"({exc.strerror or exc})") from None
        if not os.access(report_dir, os.W_OK | os.X_OK):
            raise UsageProblem(f"dossier de rapport {report_dir} non accessible en écriture")
        return report_dir
    raise UsageProblem(f"trop de campagnes dans la même seconde sous {candidates[0].parent}")


def _summarise_run(report_dir: Path, pytest_code: int, elapsed: float, lang: str) -> int:
    results_path = report_dir / "results.json"
    if pytest_code in (3, 4) and not results_path.exists():  # internal error or usage error
        _remove_if_empty(report_dir)
        print("segur-conformance: erreur : la configuration de la campagne est invalide (voir ci-dessus)",
              file=sys.stderr)
        return EXIT_USAGE
    if not results_path.exists():
        print("segur-conformance: erreur : aucun résultat produit", file=sys.stderr)
        return EXIT_USAGE if pytest_code == 5 else EXIT_FAIL
    results = json.loads(results_path.read_text(encoding="utf-8"))
    summary = results["summary"]
    en = lang == "en"
    from conformance.report.i18n import t as tr

    keys = ("passed", "reserved", "failed", "error", "not_run", "manual")
    labels = {k: tr("verdict_plural." + k, lang, n=int(summary.get(k, 0) or 0)) for k in keys}  # agreeing forms
    print()
    checks = [c for c in results.get("harness_checks") or [] if c.get("verdict") in ("failed", "error")]
    for check in checks:  # the campaign's preconditions first: every verdict below depends on them
        title = check.get("title_en") if en else check.get("title")
        print(f"   {str(check.get('verdict')).upper():7} {check.get('id')}  {title}")
        print(f"           {(check.get('reason_en') if en else check.get('reason')) or ''}"[:300])
    total_label = "requirements in" if en else "exigences en"
    print(f"== {results['run']['profile']} : {summary['total']} {total_label} {elapsed:.1f} s ==")
    print("   " + " · ".join(f"{labels[k]} {summary.get(k, 0)}" for k in labels))
    bad = [r for r in results["requirements"] if r["verdict"] in ("failed", "error")]
    for entry in bad[:20]:
        flag = ("SHALL" if en else "DOIT") if entry.get("mandatory") else ("MAY" if en else "PEUT")
        print(f"   {entry['verdict'].upper():7} {flag} {entry['id']:<22} {entry['title'][:70]}")
        proofs = {p.get("id"): p for s in entry.get("scenarios", []) for p in s.get("proofs", [])}
        for pid in entry.get("failing_proofs", [])[:6]:
            proof = proofs.get(pid, {})
            reason = (proof.get("reason_en") if en else proof.get("reason")) or ""
            print(f"       {proof.get('verdict', '?'):7} {pid}: {reason[:200]}")
    if len(bad) > 20:
        print(f"   … {'and' if en else 'et'} {len(bad) - 20} {'more' if en else 'autres'}")
    html = report_dir / "report.html"
    print(f"   {'report' if lang == 'en' else 'rapport'} : {html if html.exists() else results_path}")
    if (report_dir / "report.pdf").is_file():
        print(f"   {'paper dossier' if lang == 'en' else 'dossier papier'} : {report_dir / 'report.pdf'}")
    if results["run"].get("interrupted"):
        print("   " + ("INTERRUPTED: partial results, not a proof file" if lang == "en"
                        else "INTERROMPU : résultats partiels, à ne pas présenter comme dossier de preuves"))
    if results["run"].get("selection"):
        print("   " + (f"PARTIAL RUN ({results['run']['selection']}): unselected requirements show as not run"
                        if lang == "en" else f"CAMPAGNE PARTIELLE ({results['run']['selection']}) : "
                        "les exigences non sélectionnées apparaissent non testées"))
    problem = results["run"].get("candidate_problem")
    if problem:
        print(f"   {'candidate problem' if lang == 'en' else 'problème du candidat'} : {problem}")
    if results["run"].get("interrupted"):
        return EXIT_INTERRUPTED
    if any(c.get("id") == "HARNESS.PREFLIGHT" for c in checks):
        return EXIT_USAGE  # the sandbox was not usable: a configuration error, results.json says why
    if problem or checks:
        return EXIT_FAIL
    if summary.get("mandatory_failed") or summary.get("mandatory_error"):
        return EXIT_FAIL
    return EXIT_OK


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()  # only succeeds on an empty folder: never removes anything the user had
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# requirements, sandbox
# ---------------------------------------------------------------------------------------------
def cmd_requirements(args: argparse.Namespace) -> int:
    from conformance.profiles import ProfileError, load_profile
    from conformance.requirements import CatalogueError, load_catalogue

    if args.diff is not None:
        from conformance.catalogue_import import diff_command

        if not args.diff.exists():
            raise UsageProblem(f"{args.diff} introuvable")
        try:
            return diff_command(args.diff, fmt=args.format, corridor=args.profile)
        except (CatalogueError, OSError) as exc:
            raise UsageProblem(str(exc)) from None
    try:
        catalogue = load_catalogue()
        ids = None
        if args.profile:
            ids = set(load_profile(args.profile, catalogue).requirement_ids)
    except (CatalogueError, ProfileError) as exc:
        raise UsageProblem(str(exc)) from None
    selected = [r for r in catalogue if ids is None or r.id in ids]
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in selected], ensure_ascii=False, indent=1))
        return EXIT_OK
    for r in selected:
        nature = "DOIT" if r.mandatory else "PEUT"
        method = "manuel" if r.manual_only else "auto"
        print(f"{r.id:<24} {r.section:<4} {nature} v{r.wave} {r.verified:<2} {method:<6} {r.title}")
    print(f"# {len(selected)} exigences", file=sys.stderr)
    return EXIT_OK


def _reference() -> Any:
    """The embedded reference sandbox, through its entry point (conformance/reference.py)."""
    from conformance.reference import ReferenceMissing, load_reference

    try:
        return load_reference()
    except ReferenceMissing as exc:
        raise UsageProblem(str(exc)) from None


def cmd_sandbox(args: argparse.Namespace) -> int:
    reference = _reference()
    if args.list_defects:
        for name, (module, text) in sorted(reference.all_defects().items()):
            print(f"{name:<32} {module:<12} {text}")
        return EXIT_OK
    try:
        running = reference.serve(port=args.port, defects=args.defect)
    except reference.UnknownDefect as exc:
        raise UsageProblem(str(exc)) from None
    except OSError as exc:
        raise UsageProblem(f"impossible d'écouter sur 127.0.0.1:{args.port} ({exc.strerror})") from None
    print(f"bac à sable de référence : {running.url}  (Ctrl-C pour arrêter)", flush=True)
    if args.dmp_trust_out is not None:
        args.dmp_trust_out.write_bytes(reference.dmp_trust_anchors_pem())
        print(f"ancre de confiance DMP de test : {args.dmp_trust_out}  (run --dmp-trust {args.dmp_trust_out})",
              flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# delegated commands (one room each)
# ---------------------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    missing = [str(f) for f in args.files if not f.exists()]
    if missing:
        raise UsageProblem(f"fichier introuvable : {', '.join(map(repr, missing))}")
    not_files = [str(f) for f in args.files if not f.is_file()]
    if not_files:
        raise UsageProblem(f"pas un fichier ordinaire (dossier, tube…) : {', '.join(map(repr, not_files))}")
    if args.cisis_kit is not None and not args.cisis_kit.is_dir():
        raise UsageProblem(f"--cisis-kit : {args.cisis_kit} n'est pas un dossier")
    from conformance.validate_artefacts import validate_artefacts

    if args.warm:
        os.environ["SEGUR_CDA_WARM"] = "1"
    trust = args.dmp_trust or (Path(os.environ["SEGUR_DMP_TRUST"]) if os.environ.get("SEGUR_DMP_TRUST") else None)
    if trust is not None and not trust.exists():
        raise UsageProblem(f"--dmp-trust : {trust} introuvable")
    return int(validate_artefacts(args.files, args.cisis_kit, args.lang, sys.stdout, dmp_trust=trust))


def _report_command(name: str, *call_args: Any) -> int:
    from conformance.report import commands

    return int(getattr(commands, name)(*call_args))


def cmd_verify(args: argparse.Namespace) -> int:
    if not args.report_dir.is_dir():
        raise UsageProblem(f"{args.report_dir} n'est pas un dossier de rapport")
    return _report_command("cmd_verify", args.report_dir, args.public_key, None, None,
                           getattr(args, "reviewer_key", None))


def cmd_attach(args: argparse.Namespace) -> int:
    if not (args.report_dir / "results.json").is_file():
        raise UsageProblem(f"{args.report_dir} n'est pas un dossier de rapport (results.json absent)")
    if args.attestations is None and (not args.proof_id or not args.files):
        raise UsageProblem("attach : donner PROOF_ID FILE… ou --from attestations.yaml")
    return _report_command("cmd_attach", args.report_dir, args.proof_id, args.files, args.note, args.by, None, None,
                           None, args.attestations)


def cmd_review(args: argparse.Namespace) -> int:
    if not (args.report_dir / "results.json").is_file():
        raise UsageProblem(f"{args.report_dir} n'est pas un dossier de rapport (results.json absent)")
    return _report_command("cmd_review", args.report_dir, args.proof_id, args.decision, args.note, args.key, args.by)


def cmd_diff(args: argparse.Namespace) -> int:
    for path in (args.old, args.new):
        if not path.exists():
            raise UsageProblem(f"{path} introuvable")
    return _report_command("cmd_diff", _results_path(args.old), _results_path(args.new), args.lang)


def cmd_merge(args: argparse.Namespace) -> int:
    inputs = [_results_path(p) for p in args.inputs]
    for path in inputs:
        if not path.exists():
            raise UsageProblem(f"{path} introuvable")
    return _report_command("cmd_merge", inputs, args.out, args.lang)


def cmd_export(args: argparse.Namespace) -> int:
    path = _results_path(args.results)
    if not path.exists():
        raise UsageProblem(f"{path} introuvable")
    return _report_command("cmd_export", path, args.out, args.format or ["all"], args.lang)


def cmd_check_contract(args: argparse.Namespace) -> int:
    from conformance.sandbox.client import Deadlines
    from conformance.sandbox.contract_check import ContractSpecMissing, run_check

    try:
        deadlines = Deadlines.from_values(answer=args.answer_timeout) if args.answer_timeout else Deadlines.from_env()
        return run_check(args.sandbox_url, sys.stdout, args.lang, json_out=args.json, deadlines=deadlines)
    except (ContractSpecMissing, ValueError) as exc:
        raise UsageProblem(str(exc)) from None


def cmd_import_rem(args: argparse.Namespace) -> int:
    if not args.xlsx.is_file():
        raise UsageProblem(f"{args.xlsx} introuvable")
    from conformance.catalogue_import import import_command
    from conformance.profiles import corridor_ids

    corridors = [c.strip() for c in args.corridors.split(",") if c.strip()] or list(corridor_ids())
    return int(import_command(args.xlsx, args.out, args.wave, corridors))


def _results_path(path: Path) -> Path:
    return path / "results.json" if path.is_dir() else path


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
