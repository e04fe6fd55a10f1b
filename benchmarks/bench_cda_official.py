"""The official CDA layer against the warm official engine, measured in the same run (issue 16).

Run: ``python benchmarks/bench_cda_official.py [--kit DIR] [--docs 100] [--reps 3] [--rounds 3]
[--patterns] [--equivalence] [--json out.json]``.

* **Peer**: Saxon-HE on Java (Debian ``libsaxonhe-java``), ``benchmarks/OfficialWarm.java`` (s9api): the
  generated XSLT of every schematron the documents need is compiled once in one JVM, then each document
  is parsed and every schematron applied, ``--rounds`` times; round 1 is the warm-up, the steady state
  is the median of the later rounds. Skipped with a message when Java or the jar is absent.
* **Ours**: a fresh Python process (so start-up and peak RSS are real) that opens the kit, loads the
  same schematrons from the warm disk cache, then validates the same documents (parse, volet
  selection, every schematron, SVRL → findings), ``--rounds`` times. Once with the fast engine
  (default), once with ``SEGUR_CDA_ENGINE=official`` (the same generated XSLT unmodified, in SaxonC):
  that row shows what the rewrites buy.
* The per-document **ratio** is peer / ours, computed per repetition (peer and ours run back to back)
  and given as the median of ``--reps`` repetitions, because the machine is shared and loaded.
* ``--patterns``: where the time goes per pattern of each profile (the unmodified XSLT, each pattern's
  traversal run alone; the pattern's own time is that run minus a run with no pattern).
* ``--startup``: start-up and memory of one ``segur-conformance validate --cisis-kit`` command on one
  VSM example (wall time to the verdict, peak RSS by GNU ``time``), in-process and with ``--warm``
  (the warm schematron worker, ``conformance/cda/sch_worker.py``: cold start, then warm), the worker's
  own peak RSS, and the per-document time through the worker against in-process. The worker runs in a
  temporary folder sharing the user's warm compile cache, and is stopped at the end.
* ``--equivalence``: byte identity of the fast and official SVRL on every example of the kit and
  ``examples-extra/`` plus the mutation set (``tests/test_cda_mutations.py``); the CI test
  ``tests/test_cda_equivalence.py`` runs a fixed subset.

The documents are the issue's: 50 × VSM_1.4_2022.01 and 50 × DLU-EHPAD-DLU_2022.01, alternated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAXON_JAR = Path("/usr/share/java/Saxon-HE.jar")
DOCS = ("VSM_1.4_2022.01.xml", "DLU-EHPAD-DLU_2022.01.xml")
PROFILE_NAMES = {
    "IHE.sch": "IHE",
    "terminologie.sch": "terminologie",
    "CI-SIS_ModelesDeContenusCDA.sch": "ModelesDeContenusCDA",
    "ASIP-STRUCT-MIN-StrucMin.sch": "StrucMin",
    "CI-SIS_Modeles_ANS.sch": "Modeles_ANS",
}


def default_kit() -> Path:
    env = os.environ.get("SEGUR_CISIS_KIT")
    if env:
        return Path(env)
    shared = os.environ.get("SEGUR_SHARED")
    return (Path(shared) if shared else ROOT.parent / "shared") / "cisis-kit"


def label(sch: str) -> str:
    name = Path(sch).name
    name = re.sub(r"\.[0-9a-f]{16}\.xsl$", ".sch", name)
    return PROFILE_NAMES.get(name, "volet")


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ``ru_maxrss``: Linux keeps it across fork and exec, so a
    child reports at least the peak of the parent it was forked from (this benchmark's parent compiles
    the generated XSLT for the Java peer in SaxonC, ≈ 1 GB: 978–987 MB shown for a child whose own peak
    is 440 MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------------------------
# Ours: a child process
# ----------------------------------------------------------------------------------------------


def child(kit_dir: str, docs: list[str], rounds: int) -> dict:
    t0 = time.perf_counter()
    from conformance.cda import sch_run
    from conformance.cda import schematron as S
    from conformance.cda.kit import Kit
    from conformance.safexml import parse_bytes, parse_file

    kit = Kit.open(kit_dir)
    runner = S.SchematronRunner(kit)
    unique = list(dict.fromkeys(docs))
    for d in unique:  # start-up: every schematron these documents need, loaded and ready
        for sch in runner.select(parse_file(d)).all:
            runner.compile(sch)
    startup = time.perf_counter() - t0
    per_round: list[list[float]] = []
    per_sheet: dict[str, list[float]] = {}
    errors = {}
    state = {"record": False}
    transform = sch_run.transform

    def timed_transform(compiled, node, tokens):  # per-schematron time of the transform itself
        ts = time.perf_counter()
        try:
            return transform(compiled, node, tokens)
        finally:
            if state["record"]:
                per_sheet.setdefault(label(compiled.report.schematron), []).append((time.perf_counter() - ts) * 1000)

    sch_run.transform = timed_transform  # looked up by the run module at each call
    for r in range(rounds):
        state["record"] = r > 0
        times = []
        for d in docs:
            t = time.perf_counter()
            # the production path (cda.validate.validate_document): the file's bytes parsed safely, then
            # selection, every schematron (Saxon reads the same bytes), SVRL -> findings
            data = Path(d).read_bytes()
            found = runner.validate(parse_bytes(data), Path(d).name, data)
            times.append((time.perf_counter() - t) * 1000)
            if r == rounds - 1:
                errors[Path(d).name] = sum(1 for f in found if f.is_error)
        per_round.append(times)
    return {
        "engine": runner.engine,
        "startup_s": startup,
        "per_round_ms": per_round,
        "per_sheet_ms": per_sheet,
        "rss_mb": peak_rss_mb(),
        "errors": errors,
    }


def run_ours(kit: Path, docs: list[Path], rounds: int, engine: str) -> dict:
    env = dict(os.environ, SEGUR_CDA_ENGINE=engine)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"kit": str(kit), "docs": [str(d) for d in docs], "rounds": rounds}, fh)
        job = fh.name
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", job], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    os.unlink(job)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


# ----------------------------------------------------------------------------------------------
# Peer: warm Java
# ----------------------------------------------------------------------------------------------


def java_available() -> str:
    if not shutil.which("java") or not shutil.which("javac"):
        return "java/javac absent"
    if not SAXON_JAR.is_file():
        return f"{SAXON_JAR} absent (apt-get install libsaxonhe-java)"
    return ""


def build_java(work: Path) -> Path:
    out = work / "classes"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["javac", "-cp", str(SAXON_JAR), "-d", str(out), str(Path(__file__).with_name("OfficialWarm.java"))],
        check=True, capture_output=True,
    )
    return out


def jobs_file(kit: Path, docs: list[Path], work: Path) -> Path:
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    runner = SchematronRunner(Kit.open(kit), engine="official")
    lines = []
    memo: dict[Path, list[str]] = {}
    for d in docs:
        if d not in memo:
            sheets = [runner.xslt_path(s) for s in runner.select(parse_file(str(d))).all]
            memo[d] = [str(p) for p in sheets if p is not None]
        lines.append("\t".join([str(d)] + memo[d]))
    path = work / "jobs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_java(classes: Path, jobs: Path, rounds: int, svrl_dir: Path | None = None) -> dict:
    cmd = ["java", "-Xss8m", "-cp", f"{SAXON_JAR}:{classes}", "OfficialWarm", str(jobs), str(rounds)]
    if svrl_dir is not None:
        cmd.append(str(svrl_dir))
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    per_round: dict[int, list[float]] = {}
    per_sheet: dict[tuple[int, int, int], float] = {}
    load_ms = rss_kb = 0.0
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[0] == "load_ms":
            load_ms = float(parts[1])
        elif parts[0] == "doc":
            per_round.setdefault(int(parts[1]), []).append(float(parts[3]))
        elif parts[0] == "sheet":
            per_sheet[(int(parts[1]), int(parts[2]), int(parts[3]))] = float(parts[4])
        elif parts[0] == "vmhwm_kb":
            rss_kb = float(parts[1])
    return {"startup_s": load_ms / 1000, "per_round_ms": [per_round[k] for k in sorted(per_round)],
            "per_sheet": per_sheet, "rss_mb": rss_kb / 1024, "process_wall_s": wall}


def java_verdicts(classes: Path, kit_dir: Path, work: Path) -> dict:
    """The peer's SVRL on the two documents against the fast engine's: same results, same fired rules."""
    from conformance.cda import svrl as svrl_mod
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    docs = [kit_dir / "ExemplesCDA" / d for d in DOCS]
    jobs = jobs_file(kit_dir, docs, work)
    out_dir = work / "svrl"
    out_dir.mkdir(exist_ok=True)
    run_java(classes, jobs, 1, out_dir)
    fast = SchematronRunner(Kit.open(kit_dir), engine="fast")

    def norm(text: str) -> tuple:
        rep = svrl_mod.parse_svrl(text)
        return (rep.fired_rules, rep.active_patterns,
                sorted((r.kind, r.id or r.pattern, r.location, r.text) for r in rep.results))

    pairs = same = 0
    diffs = []
    for i, d in enumerate(docs):
        tree = parse_file(str(d))
        for k, sch in enumerate(fast.select(tree).all):
            java_file = out_dir / f"{i}_{k}.svrl"
            if not java_file.is_file():
                continue
            pairs += 1
            if norm(java_file.read_text(encoding="utf-8")) == norm(fast.svrl_text(tree, sch)):
                same += 1
            else:
                diffs.append(f"{d.name} {sch.name}")
    return {"pairs": pairs, "same": same, "differences": diffs}


def java_per_profile(java: dict, jobs: Path) -> dict[str, list[float]]:
    sheets = [line.split("\t")[1:] for line in jobs.read_text().splitlines() if line]
    out: dict[str, list[float]] = {}
    for (r, i, k), ms in java["per_sheet"].items():
        if r > 0:
            out.setdefault(label(sheets[i][k]), []).append(ms)
    return out


def steady(per_round: list[list[float]]) -> float:
    """Median per-document time over the rounds after the first (warm-up)."""
    vals = [v for rnd in per_round[1:] for v in rnd] or [v for rnd in per_round for v in rnd]
    return statistics.median(vals)


def steady_round_s(per_round: list[list[float]]) -> float:
    rounds = per_round[1:] or per_round
    return statistics.median(sum(r) for r in rounds) / 1000


# ----------------------------------------------------------------------------------------------
# Per pattern (the unmodified XSLT, one pattern's traversal at a time)
# ----------------------------------------------------------------------------------------------


def per_pattern(kit_dir: Path, reps: int = 3) -> dict:
    from conformance.cda import schematron as S
    from conformance.cda.kit import Kit
    from conformance.safexml import parse_file

    kit = Kit.open(kit_dir)
    runner = S.SchematronRunner(kit, engine="official")
    proc, xslt = S._saxon()
    out: dict[str, dict] = {}
    trees = [parse_file(str(kit.examples_dir / d)) for d in DOCS]
    nodes = [S._to_xdm(t) for t in trees]
    for rel in S.STANDARD_PROFILES:
        sch = kit.schematron_dir / rel
        path = runner.xslt_path(sch)
        if path is None:
            continue
        text = path.read_text(encoding="utf-8")
        modes = re.findall(r'<xsl:apply-templates select="/" mode="(M\d+)"/>', text)
        gated = re.sub(
            r'(<xsl:apply-templates select="/" mode="(M\d+)"/>)',
            lambda m: f"<xsl:if test=\"contains($sc:only, ' {m.group(2)} ')\">{m.group(1)}</xsl:if>",
            text,
        )
        gated = gated.replace(
            "<xsl:output ", '<xsl:param xmlns:xs="http://www.w3.org/2001/XMLSchema" name="sc:only" '
            'as="xs:string" select="\' \'"/><xsl:output ', 1,
        )
        exe = xslt.compile_stylesheet(stylesheet_text=gated)
        plan = runner._get(sch)  # noqa: F841  (warm the official one too)

        def timed(only: str, exe=exe) -> float:
            exe.set_parameter("{urn:segur-conformance:schematron}only", proc.make_string_value(only))
            best = []
            for node in nodes:
                vals = []
                for _ in range(reps):
                    t = time.perf_counter()
                    exe.transform_to_string(xdm_node=node)
                    vals.append(time.perf_counter() - t)
                best.append(statistics.median(vals))
            return sum(best) / len(best) * 1000

        for _ in range(2):
            timed(" " + " ".join(modes) + " ")  # warm-up (SaxonC compiles template bodies lazily)
        base = timed(" ")
        whole = timed(" " + " ".join(modes) + " ")
        rows = []
        for m in modes:
            rows.append((m, max(0.0, timed(f" {m} ") - base)))
        rows.sort(key=lambda r: -r[1])
        names = dict(re.findall(r'<svrl:active-pattern (?:id|name)="([^"]*)"[^>]*/><xsl:apply-templates select="/" mode="(M\d+)"/>', text)[::1])
        by_mode = {v: k for k, v in names.items()}
        out[label(rel)] = {
            "patterns": len(modes),
            "whole_ms": whole,
            "empty_ms": base,
            "top": [(m, by_mode.get(m, ""), ms) for m, ms in rows[:6]],
            "sum_patterns_ms": sum(ms for _m, ms in rows),
        }
    return out


# ----------------------------------------------------------------------------------------------
# Equivalence on every example
# ----------------------------------------------------------------------------------------------


def equivalence(kit_dir: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from conformance.cda.equivalence import compare
    from conformance.cda.kit import Kit
    from conformance.safexml import parse_bytes, parse_file

    kit = Kit.open(kit_dir)
    docs = sorted(kit.examples_dir.glob("*.xml"))
    extra = kit.path.parent / "examples-extra"
    docs += sorted(extra.glob("*.xml")) if extra.is_dir() else []

    def gen():
        for p in docs:
            yield p.name, parse_file(str(p))
        try:
            import test_cda_mutations as tm
        except Exception:  # pragma: no cover - the mutation set needs the tests folder
            return
        for m in tm.MUTATIONS:
            yield f"{m.id} ({m.example}: {m.what})", parse_bytes(tm.mutated(m))

    t = time.perf_counter()
    rep = compare(kit, gen())
    return {"summary": rep.summary(), "seconds": time.perf_counter() - t,
            "differences": [vars(d) for d in rep.differences], "documents": rep.documents,
            "pairs": len(rep.pairs)}


# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Start-up and memory: one validate command, in-process and through the warm worker
# ----------------------------------------------------------------------------------------------


def child_perdoc(kit_dir: str, docs: list[str], rounds: int, warm: bool) -> dict:
    """Per-document time of the production validate() call, in-process or through the worker."""
    from conformance.cda.kit import Kit
    from conformance.cda.sch_worker import WarmRunner
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    kit = Kit.open(kit_dir)
    runner = WarmRunner(kit) if warm else SchematronRunner(kit)
    per_round = []
    for _ in range(rounds):
        times = []
        for d in docs:
            t = time.perf_counter()
            runner.validate(parse_file(d), Path(d).name)
            times.append((time.perf_counter() - t) * 1000)
        per_round.append(times)
    return {"per_round_ms": per_round, "worker_docs": getattr(runner, "used_worker", 0)}


def _timed_cli(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of one command, measured by GNU time in a fresh process."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t = time.perf_counter()
        proc = subprocess.run([gnu_time, "-f", "%M", "-o", tf.name, *cmd], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        rss_kb = float(Path(tf.name).read_text().split()[-1])
    return wall, rss_kb / 1024.0, proc.stdout


def startup(kit: Path, docs: list[Path], runs: int, rounds: int) -> dict:
    from conformance.cda.kit import Kit, default_cache_root
    from conformance.cda.sch_worker import ping, socket_path

    work = Path(tempfile.mkdtemp(prefix="bwarm-", dir="/tmp"))  # short: Unix socket paths are bounded
    (work / "schematron").symlink_to(default_cache_root() / "schematron")  # the user's warm compile cache
    env = dict(os.environ, SEGUR_CONFORMANCE_CACHE=str(work), SEGUR_CDA_WORKER_IDLE="300")
    env.pop("SEGUR_CDA_WARM", None)
    exe = Path(sys.executable).with_name("segur-conformance")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from conformance.cli import main; "
                                                                   "sys.exit(main())"]
    cmd = [*cli, "validate", "--cisis-kit", str(kit), str(docs[0])]
    out: dict = {"load_before": load_avg()}
    _timed_cli(cmd, env)  # the compile cache warm (not measured)
    out["in_process"] = [_timed_cli(cmd, env)[:2] for _ in range(runs)]
    out["warm_cold"] = _timed_cli([*cmd, "--warm"], env)[:2]
    out["warm"] = [_timed_cli([*cmd, "--warm"], env)[:2] for _ in range(runs)]
    outs = {_timed_cli(c, env)[2] for c in (cmd, [*cmd, "--warm"])}
    out["same_output"] = len(outs) == 1
    sock = socket_path(Kit.open(kit), "fast", work)
    pid = ping(sock) if sock else None
    job = work / "job.json"
    per = {}
    for warm in (False, True):
        job.write_text(json.dumps({"kit": str(kit), "docs": [str(d) for d in docs], "rounds": rounds, "warm": warm}))
        proc = subprocess.run([sys.executable, __file__, "--child-perdoc", str(job)], capture_output=True, text=True,
                              env=env)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        per["warm" if warm else "in_process"] = steady(res["per_round_ms"])
        if warm:
            out["worker_docs"] = res["worker_docs"]
    out["per_doc_ms"] = per
    if pid is not None:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status.splitlines()) if k in ("VmHWM", "VmRSS")}
        out["worker_rss_mb"] = {"peak": kb["VmHWM"] / 1024.0, "now": kb["VmRSS"] / 1024.0}
        ping(sock, "stop")
    out["load_after"] = load_avg()
    shutil.rmtree(work, ignore_errors=True)
    return out


def report_startup(s: dict) -> None:
    def rows(vals: list) -> str:
        return f"{statistics.median(v[0] for v in vals):.2f} s ({', '.join(f'{v[0]:.2f}' for v in vals)})"

    print("\n| one `validate --cisis-kit` command, one VSM example | to the verdict | peak RSS |")
    print("|---|---|---|")
    print(f"| in-process (warm compile cache) | {rows(s['in_process'])} | {max(v[1] for v in s['in_process']):.0f} MB |")
    print(f"| `--warm`, worker cold (starts it, compiles) | {s['warm_cold'][0]:.2f} s | {s['warm_cold'][1]:.0f} MB (client) |")
    print(f"| `--warm`, worker warm | {rows(s['warm'])} | {max(v[1] for v in s['warm']):.0f} MB (client) |")
    if "worker_rss_mb" in s:
        w = s["worker_rss_mb"]
        print(f"| the worker process itself | – | {w['peak']:.0f} MB peak, {w['now']:.0f} MB at rest |")
    p = s["per_doc_ms"]
    print(f"\nper document (steady median): in-process {p['in_process']:.1f} ms, through the worker {p['warm']:.1f} ms "
          f"({s.get('worker_docs', 0)} answered by the worker); same output: {s['same_output']}; "
          f"load {s['load_before']} / {s['load_after']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kit", type=Path, default=default_kit())
    ap.add_argument("--docs", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--patterns", action="store_true")
    ap.add_argument("--equivalence", action="store_true")
    ap.add_argument("--no-official", action="store_true", help="skip the SaxonC official-engine row")
    ap.add_argument("--official-docs", type=int, default=20,
                    help="documents for the (slow, informational) SaxonC official-engine row")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--startup", action="store_true", help="only the start-up / memory rows (--warm worker)")
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-perdoc", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_perdoc:
        job = json.loads(Path(args.child_perdoc).read_text())
        print(json.dumps(child_perdoc(job["kit"], job["docs"], job["rounds"], job["warm"])))
        return 0
    if args.child:
        job = json.loads(Path(args.child).read_text())
        print(json.dumps(child(job["kit"], job["docs"], job["rounds"])))
        return 0
    if not args.kit.is_dir():
        print(f"kit absent: {args.kit}")
        return 2
    ex = args.kit / "ExemplesCDA"
    docs = [ex / DOCS[i % 2] for i in range(args.docs)]
    if args.startup:
        s = startup(args.kit, docs, args.startup_runs, args.rounds)
        report_startup(s)
        if args.json:
            args.json.write_text(json.dumps(s, indent=1))
        return 0
    result: dict = {"load_before": load_avg(), "docs": args.docs, "rounds": args.rounds}
    reason = java_available()
    work = Path(tempfile.mkdtemp(prefix="bench-cda-official-"))
    jobs = jobs_file(args.kit, docs, work)  # also makes sure every generated XSLT is on disk
    classes = None
    if reason:
        print(f"warm Java peer skipped: {reason}")
    else:
        classes = build_java(work)
    reps = []
    for rep in range(args.reps):
        row: dict = {"load": load_avg()}
        if classes is not None:
            row["java"] = run_java(classes, jobs, args.rounds)
        row["fast"] = run_ours(args.kit, docs, args.rounds, "fast")
        if rep == 0 and not args.no_official:
            row["official"] = run_ours(args.kit, docs[: args.official_docs], args.rounds, "official")
        reps.append(row)
        j = row.get("java")
        f = row["fast"]
        msg = f"rep {rep + 1}: ours {steady(f['per_round_ms']):.1f} ms/doc (start-up {f['startup_s']:.2f} s, " \
              f"RSS {f['rss_mb']:.0f} MB)"
        if j:
            msg += f"; Java warm {steady(j['per_round_ms']):.1f} ms/doc (start-up {j['startup_s']:.2f} s, " \
                   f"RSS {j['rss_mb']:.0f} MB); ratio {steady(j['per_round_ms']) / steady(f['per_round_ms']):.2f}"
        if "official" in row:
            msg += f"; SaxonC official engine {steady(row['official']['per_round_ms']):.1f} ms/doc"
        print(msg, f"(load {row['load']})", flush=True)
    result["reps"] = reps
    if classes is not None:
        result["java_profiles"] = java_per_profile(reps[0]["java"], jobs)
    if classes is not None:
        result["java_verdicts"] = java_verdicts(classes, args.kit, work)
        v = result["java_verdicts"]
        print(f"verdicts, warm Java vs fast engine (normalised SVRL): {v['same']}/{v['pairs']} identical "
              f"{v['differences'] or ''}")
    f_err = reps[0]["fast"]["errors"]
    o_err = reps[0].get("official", {}).get("errors", {})
    result["errors_agree"] = all(f_err.get(k) == v for k, v in o_err.items())
    print(f"ERROR findings per document, fast vs official engine: {'identical' if result['errors_agree'] else 'DIFFERENT'} "
          f"({f_err})")
    if args.patterns:
        result["patterns"] = per_pattern(args.kit)
    if args.equivalence:
        result["equivalence"] = equivalence(args.kit)
        print("equivalence:", result["equivalence"]["summary"], f"({result['equivalence']['seconds']:.0f} s)")
    result["load_after"] = load_avg()
    report(result)
    if args.json:
        for row in reps:
            if "java" in row:
                row["java"]["per_sheet"] = {" ".join(map(str, k)): v for k, v in row["java"]["per_sheet"].items()}
        args.json.write_text(json.dumps(result, indent=1, default=str))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _med(vals: list[float]) -> str:
    return f"{statistics.median(vals):.1f}" if vals else "–"


def report(r: dict) -> None:
    reps = r["reps"]
    fast = [steady(x["fast"]["per_round_ms"]) for x in reps]
    print("\n| | start-up | per document (steady, median) | 100 documents (one steady round) | peak RSS |")
    print("|---|---|---|---|---|")
    f0 = reps[0]["fast"]
    print(f"| ours, fast engine (saxonche + issue-16 rewrites) | {statistics.median(x['fast']['startup_s'] for x in reps):.2f} s "
          f"| {statistics.median(fast):.1f} ms (reps: {', '.join(f'{v:.1f}' for v in fast)}) "
          f"| {statistics.median(steady_round_s(x['fast']['per_round_ms']) for x in reps):.1f} s "
          f"| {max(x['fast']['rss_mb'] for x in reps):.0f} MB |")
    if "official" in reps[0]:
        o = reps[0]["official"]
        print(f"| ours, official engine (saxonche, XSLT unmodified; {len(o['per_round_ms'][0])} documents) "
              f"| {o['startup_s']:.2f} s | {steady(o['per_round_ms']):.1f} ms "
              f"| ({steady_round_s(o['per_round_ms']):.1f} s for {len(o['per_round_ms'][0])}) | {o['rss_mb']:.0f} MB |")
    if "java" in reps[0]:
        jv = [steady(x["java"]["per_round_ms"]) for x in reps]
        print(f"| peer: Saxon-HE 9.9 on Java 17, warm, one JVM | {statistics.median(x['java']['startup_s'] for x in reps):.2f} s "
              f"| {statistics.median(jv):.1f} ms (reps: {', '.join(f'{v:.1f}' for v in jv)}) "
              f"| {statistics.median(steady_round_s(x['java']['per_round_ms']) for x in reps):.1f} s "
              f"| {max(x['java']['rss_mb'] for x in reps):.0f} MB |")
        ratios = [j / f for j, f in zip(jv, fast, strict=True)]
        print(f"\nratio peer/ours per document, per repetition: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}")
    print("\nper profile, ms per document and schematron transform (median over steady rounds, repetition 1):")
    print("| schematron | peer Java warm | ours official engine | ours fast |")
    print("|---|---|---|---|")
    jp = r.get("java_profiles", {})
    op = reps[0].get("official", {}).get("per_sheet_ms", {})
    fp = f0["per_sheet_ms"]
    for name in ("volet", "IHE", "terminologie", "ModelesDeContenusCDA", "StrucMin", "Modeles_ANS"):
        print(f"| {name} | {_med(jp.get(name, []))} | {_med(op.get(name, []))} | {_med(fp.get(name, []))} |")
    if "patterns" in r:
        print("\nper pattern (unmodified XSLT, saxonche, mean of the 2 documents, ms):")
        for prof, d in r["patterns"].items():
            top = "; ".join(f"{m} {n} {ms:.1f}" for m, n, ms in d["top"])
            print(f"- {prof}: {d['patterns']} patterns, whole {d['whole_ms']:.1f} ms, no pattern {d['empty_ms']:.1f} ms, "
                  f"sum of single-pattern runs {d['sum_patterns_ms']:.1f} ms; top: {top}")
    print(f"\nload average before/after: {r['load_before']} / {r['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
