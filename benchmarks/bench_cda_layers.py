"""Benchmark of CDA layers 1 (XSD) and 2 (schematrons) against the official per-document Java chain.

Run: ``python benchmarks/bench_cda_layers.py [--kit DIR] [--json out.json]`` (about 5–8 minutes on 2
cores with Java; ``--no-java`` for about 3). The kit comes from ``--kit``, ``$SEGUR_CISIS_KIT`` or
``../shared/cisis-kit``. Figures go to stdout (Markdown) and, with ``--json``, to a file;
benchmarks/README.md ("CDA layers 1–2") quotes one run.

What is measured (all on the kit's own examples, "in-scope" = VSM, DLU-EHPAD-*, IPS-FR*):
* XSD engines: lxml vs xmlschema (lax, and strict on a patched copy), load and per-document times;
* our chain, XSD + volet + the 5 profiles, in fresh processes: cold (empty cache), warm disk cache,
  then steady state in one process, and with 2 worker processes (as pytest-xdist -n 2 would);
* peak RSS per process (``resource.ru_maxrss``);
* the official chain emulated with Java Saxon-HE (Debian ``libsaxonhe-java``) as ``compilverif.bat``
  runs it for ONE document: per schematron, three JVMs compile it (include, expansion, XSLT
  generation) and one JVM applies it, plus one JVM for the XSD. The same repaired schema is given to
  both chains (our include step), and their SVRL verdicts are compared document by document. Without
  Java, the ratio uses baseline.md's published Java figures (and says so).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
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

IN_SCOPE = (
    "VSM_1.4_2022.01.xml",
    "DLU-EHPAD-DLU_2022.01.xml",
    "DLU-EHPAD-FLUDR_2022.01.xml",
    "DLU-EHPAD-FLUDT_2022.01.xml",
    "IPS-FR_2024.01.xml",
    "IPS-FR_2024.01_DLU.xml",
)
SAXON_JAR = Path("/usr/share/java/Saxon-HE.jar")
# baseline.md §3.2: "One compilverif.bat-style check of one document therefore costs about 19 s of
# validation, plus about 45 s of recompiling ..., plus about 1.3 s of XSD" (VSM, full set).
BASELINE_JAVA_SECONDS_PER_DOC = 19.4 + 45.0 + 1.3

XSD_JAVA = r"""
import javax.xml.XMLConstants;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.*;
import java.io.File;
public class XsdCheck {
  public static void main(String[] a) throws Exception {
    SchemaFactory f = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
    Validator v = f.newSchema(new File(a[0])).newValidator();
    final int[] n = {0};
    v.setErrorHandler(new org.xml.sax.helpers.DefaultHandler() {
      public void error(org.xml.sax.SAXParseException e) { n[0]++; }
      public void fatalError(org.xml.sax.SAXParseException e) { n[0]++; }
    });
    v.validate(new StreamSource(new File(a[1])));
    System.out.println("errors=" + n[0]);
  }
}
"""


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def default_kit() -> Path:
    env = os.environ.get("SEGUR_CISIS_KIT")
    if env:
        return Path(env)
    shared = os.environ.get("SEGUR_SHARED")
    return (Path(shared) if shared else ROOT.parent / "shared") / "cisis-kit"


def all_examples(kit: Path) -> list[Path]:
    docs = sorted((kit / "ExemplesCDA").glob("*.xml"))
    extra = kit.parent / "examples-extra"
    if extra.is_dir():
        docs += sorted(extra.glob("*.xml"))
    return docs


# ----------------------------------------------------------------------------------------------
# Our chain (run in child processes so cold/warm are real process starts)
# ----------------------------------------------------------------------------------------------


def _validate_all_layers(runner, xsd, path: Path) -> dict:
    from conformance.safexml import parse_file

    tree = parse_file(str(path))
    found = xsd.validate(tree, path.name) + runner.validate(tree, path.name)
    errors: dict[str, int] = {}
    for f in found:
        if f.is_error:
            key = f.rule.split("#")[0]
            errors[key] = errors.get(key, 0) + 1
    return errors


def child(mode: str, kit_dir: str, cache: str, docs: list[str], rounds: int) -> dict:
    """One fresh process: open kit, validate ``docs`` (all layers), then steady-state rounds."""
    t_start = time.perf_counter()
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.cda.xsd import XsdValidator

    t_import = time.perf_counter() - t_start
    kit = Kit.open(kit_dir)
    runner = SchematronRunner(kit, Path(cache))
    xsd = XsdValidator(kit)
    paths = [Path(d) for d in docs]
    verdicts = {}
    t0 = time.perf_counter()
    for p in paths:
        verdicts[p.name] = _validate_all_layers(runner, xsd, p)
    first = time.perf_counter() - t0
    compile_s = sum(c.report.seconds_compile for c in _compiled_items())
    load_s = sum(c.report.seconds_load for c in _compiled_items())
    steady: list[float] = []
    for _ in range(rounds):
        t1 = time.perf_counter()
        for p in paths:
            _validate_all_layers(runner, xsd, p)
        steady.append(time.perf_counter() - t1)
    return {
        "mode": mode,
        "import_s": t_import,
        "first_pass_s": first,
        "process_to_first_pass_s": time.perf_counter() - t_start - sum(steady),
        "compile_s": compile_s,
        "load_s": load_s,
        "steady_round_s": steady,
        "docs": len(paths),
        "peak_rss_mb": rss_mb(),
        "verdicts": verdicts,
    }


def _compiled_items():
    from conformance.cda import schematron as sch_mod

    return list(sch_mod._compiled.values())


def run_child(mode: str, kit: Path, cache: Path, docs: list[Path], rounds: int) -> dict:
    call = repr((mode, str(kit), str(cache), [str(d) for d in docs], rounds))
    code = (
        f"import json,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_cda_layers as b; "
        f"print('@@'+json.dumps(b.child(*{call})))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(x for x in done.stdout.splitlines() if x.startswith("@@"))
    out = json.loads(line[2:])
    out["wall_s"] = wall
    return out


_worker_state: dict = {}


def _worker_init(kit_dir: str, cache: str, warm: list[str], barrier=None) -> None:
    """Open the kit and run the warm-up documents: Saxon compiles template bodies lazily, on their
    first use, so a worker only reaches its steady state after a few documents."""
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.cda.xsd import XsdValidator

    kit = Kit.open(kit_dir)
    _worker_state["runner"] = SchematronRunner(kit, Path(cache))
    _worker_state["xsd"] = XsdValidator(kit)
    for _ in range(2):
        for p in warm:
            _validate_all_layers(_worker_state["runner"], _worker_state["xsd"], Path(p))
    if barrier is not None:
        barrier.wait(timeout=1800)  # the batch starts only when both workers are warm


def _worker_job(path: str) -> tuple[str, dict, float, float]:
    t0 = time.perf_counter()
    verdict = _validate_all_layers(_worker_state["runner"], _worker_state["xsd"], Path(path))
    return path, verdict, time.perf_counter() - t0, rss_mb()


def two_workers(kit: Path, cache: Path, docs: list[Path], warm: list[Path]) -> dict:
    """pytest-xdist-like: 2 processes, each warmed up on ``warm`` (twice), then the batch."""
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    barrier = ctx.Barrier(2)
    init = (str(kit), str(cache), [str(w) for w in warm], barrier)
    with ctx.Pool(2, initializer=_worker_init, initargs=init) as pool:
        pool.map(_worker_job, [str(warm[0])], chunksize=1)  # any answer means both passed the barrier
        t_ready = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = list(pool.imap_unordered(_worker_job, [str(d) for d in docs], chunksize=1))
        batch = time.perf_counter() - t1
    return {
        "startup_s": t_ready,
        "batch_s": batch,
        "docs": len(docs),
        "docs_per_s": len(docs) / batch,
        "peak_rss_mb_per_worker": max(r[3] for r in results),
        "wall_s": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------------------------
# XSD engines
# ----------------------------------------------------------------------------------------------


def bench_xsd(kit: Path, docs: list[Path]) -> dict:
    from lxml import etree

    from conformance.safexml import parse_file

    xsd = kit / "infrastructure/cda/CDA_extended.xsd"
    out: dict = {}
    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        schema = etree.XMLSchema(etree.parse(str(xsd)))
        loads.append(time.perf_counter() - t0)
    per, valid = [], 0
    for p in docs:
        t0 = time.perf_counter()
        tree = parse_file(str(p))
        ok = schema.validate(tree)
        per.append(time.perf_counter() - t0)
        valid += int(ok)
    out["lxml"] = {
        "load_s_median": statistics.median(loads),
        "parse_validate_ms_median": 1000 * statistics.median(per),
        "parse_validate_ms_max": 1000 * max(per),
        "valid": valid,
        "docs": len(docs),
    }
    try:
        import xmlschema
    except ImportError:
        return out
    t0 = time.perf_counter()
    lax = xmlschema.XMLSchema10(str(xsd), validation="lax")
    out["xmlschema_lax_load_s"] = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="xsdcopy-"))
    try:
        shutil.copytree(kit / "infrastructure", tmp / "infrastructure")
        root_xsd = tmp / "infrastructure/cda/general/infrastructureRoot.xsd"
        text = root_xsd.read_text(encoding="utf-8")
        root_xsd.write_text(text.replace("<xs:schema ", '<xs:schema xmlns="urn:hl7-org:v3" ', 1), encoding="utf-8")
        t0 = time.perf_counter()
        strict = xmlschema.XMLSchema10(str(tmp / "infrastructure/cda/CDA_extended.xsd"))
        out["xmlschema_strict_patched_load_s"] = time.perf_counter() - t0
        per, valid = [], 0
        for p in docs:
            t0 = time.perf_counter()
            errs = list(strict.iter_errors(str(p)))
            per.append(time.perf_counter() - t0)
            valid += int(not errs)
        out["xmlschema"] = {
            "validate_ms_median": 1000 * statistics.median(per),
            "validate_ms_max": 1000 * max(per),
            "valid": valid,
            "docs": len(docs),
        }
    except Exception as exc:  # report, do not crash the whole benchmark
        out["xmlschema_error"] = str(exc)[:300]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    del lax
    return out


# ----------------------------------------------------------------------------------------------
# The official chain, emulated with Java Saxon-HE, one document at a time
# ----------------------------------------------------------------------------------------------


def java_chain(kit_dir: Path, doc: Path, work: Path) -> dict:
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.cda.svrl import parse_svrl
    from conformance.safexml import parse_file

    work.mkdir(parents=True, exist_ok=True)
    kit = Kit.open(kit_dir)
    runner = SchematronRunner(kit, work / "pycache")
    expand, compile_xsl = runner.pipeline_stylesheets()
    include_xsl = work / "identity_include.xsl"
    include_xsl.write_text(
        '<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>'
        "</xsl:template></xsl:stylesheet>"
    )
    tree = parse_file(str(doc))
    schematrons = runner.schematrons_for(tree)
    java = ["java", "-Xss8m", "-cp", str(SAXON_JAR), "net.sf.saxon.Transform"]
    timings: dict[str, float] = {}
    verdict_java: dict[str, tuple[int, int]] = {}
    verdict_py: dict[str, tuple[int, int]] = {}
    src = work / "XsdCheck.java"
    src.write_text(XSD_JAVA)
    t0 = time.perf_counter()
    subprocess.run(["java", str(src), str(kit.xsd_path), str(doc)], capture_output=True, text=True, timeout=600)
    timings["xsd"] = time.perf_counter() - t0
    for sch in schematrons:
        name = sch.name
        text, _rep = runner.included_schema(sch)
        d = work / name.replace(".sch", "")
        d.mkdir(parents=True, exist_ok=True)
        (d / "in.sch").write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        # compilverif.bat: include, expansion, XSLT generation, each a JVM (the include input is
        # already included here, so that JVM costs what the official one costs minus the file reads).
        for args in (
            [f"-s:{d / 'in.sch'}", f"-xsl:{include_xsl}", f"-o:{d / 'colle.sch'}"],
            [f"-s:{d / 'colle.sch'}", f"-xsl:{expand}", f"-o:{d / 'concret.sch'}"],
            [f"-s:{d / 'concret.sch'}", f"-xsl:{compile_xsl}", f"-o:{d / 'X.xsl'}", f"base-uri={sch.resolve().as_uri()}"],
        ):
            r = subprocess.run(java + args, capture_output=True, text=True, timeout=1200)
            if r.returncode != 0:
                raise RuntimeError(f"java compile step failed for {name}: {r.stderr[-800:]}")
        t1 = time.perf_counter()
        r = subprocess.run(
            java + [f"-s:{doc}", f"-xsl:{d / 'X.xsl'}", f"-o:{d / 'out.svrl'}"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        t2 = time.perf_counter()
        timings[name] = t2 - t0
        timings[name + " (compile)"] = t1 - t0
        if r.returncode != 0:
            verdict_java[name] = (-1, -1)
        else:
            rep = parse_svrl((d / "out.svrl").read_bytes())
            verdict_java[name] = (len(rep.failed_asserts) + len(rep.successful_reports), rep.fired_rules)
        rep_py = runner.svrl(tree, sch)
        verdict_py[name] = (len(rep_py.failed_asserts) + len(rep_py.successful_reports), rep_py.fired_rules)
    return {
        "doc": doc.name,
        "seconds": sum(v for k, v in timings.items() if not k.endswith("(compile)")),
        "timings": timings,
        "java_verdicts": verdict_java,
        "py_verdicts": verdict_py,
        "same": verdict_java == verdict_py,
    }


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", type=Path, default=default_kit())
    ap.add_argument("--json", type=Path)
    ap.add_argument("--rounds", type=int, default=3, help="steady-state rounds over the in-scope set")
    ap.add_argument("--java-docs", type=int, default=2, help="documents run through the Java chain")
    ap.add_argument("--no-java", action="store_true")
    ap.add_argument("--skip-all", action="store_true", help="in-scope documents only")
    args = ap.parse_args()
    kit: Path = args.kit
    if not (kit / "infrastructure/cda/CDA_extended.xsd").is_file():
        print(f"no CI-SIS kit at {kit}: set --kit or SEGUR_CISIS_KIT", file=sys.stderr)
        return 2
    docs_all = all_examples(kit)
    in_scope = [kit / "ExemplesCDA" / n for n in IN_SCOPE]
    results: dict = {
        "kit": str(kit),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg(),  # other jobs on the machine skew every figure
    }
    work = Path(tempfile.mkdtemp(prefix="bench-cda-"))
    os.environ.setdefault("SEGUR_CONFORMANCE_CACHE", str(work / "home"))
    try:
        print("# XSD engines", flush=True)
        results["xsd"] = bench_xsd(kit, docs_all)
        print(json.dumps(results["xsd"], indent=1), flush=True)

        cache = work / "cache"
        print("# our chain: cold process (empty cache), in-scope documents", flush=True)
        results["cold"] = show(run_child("cold", kit, cache, in_scope, 0))
        print("# our chain: fresh process, warm disk cache, then steady state", flush=True)
        results["warm"] = show(run_child("warm", kit, cache, in_scope, args.rounds))
        if not args.skip_all:
            print("# our chain: all examples, one process", flush=True)
            results["all_one"] = show(run_child("all", kit, cache, docs_all, 1))
            print("# our chain: all examples, 2 worker processes", flush=True)
            results["all_two"] = show(two_workers(kit, cache, docs_all, in_scope))
        print("# our chain: in-scope x5, 2 worker processes", flush=True)
        results["inscope_two"] = show(two_workers(kit, cache, in_scope * 5, in_scope))

        if not args.no_java and shutil.which("java") and SAXON_JAR.is_file():
            print("# official chain emulated with Java Saxon-HE (one JVM per step and per document)", flush=True)
            results["java"] = [
                show(java_chain(kit, d, work / f"java{i}")) for i, d in enumerate(in_scope[: args.java_docs])
            ]
        else:
            results["java"] = None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = os.getloadavg()
    summarize(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def show(part: dict) -> dict:
    brief = {k: v for k, v in part.items() if k != "verdicts"}
    print(json.dumps(brief, indent=1), flush=True)
    return part


def summarize(r: dict) -> None:
    warm = r["warm"]
    rounds = warm["steady_round_s"][1:] or warm["steady_round_s"]  # round 1 still compiles template bodies
    steady = statistics.median(rounds) if rounds else float("nan")
    per_doc = steady / warm["docs"]
    lines = ["", "## Summary", ""]
    if "loadavg_start" in r:
        lines.append(f"- machine load average at start / end: {r['loadavg_start'][0]:.1f} / {r['loadavg_end'][0]:.1f}")
    x = r["xsd"]["lxml"]
    lines.append(
        f"- XSD lxml: load {x['load_s_median']*1000:.0f} ms, parse+validate median "
        f"{x['parse_validate_ms_median']:.1f} ms (max {x['parse_validate_ms_max']:.1f}), {x['valid']}/{x['docs']} valid"
    )
    if "xmlschema" in r["xsd"]:
        y = r["xsd"]["xmlschema"]
        lines.append(
            f"- XSD xmlschema: lax load {r['xsd']['xmlschema_lax_load_s']:.2f} s, patched strict load "
            f"{r['xsd']['xmlschema_strict_patched_load_s']:.2f} s, validate median {y['validate_ms_median']:.1f} ms "
            f"(max {y['validate_ms_max']:.1f}), {y['valid']}/{y['docs']} valid"
        )
    c = r["cold"]
    lines.append(
        f"- cold process, empty cache, {c['docs']} in-scope docs, all layers: {c['wall_s']:.1f} s wall "
        f"(compile {c['compile_s']:.1f} s, load {c['load_s']:.1f} s), peak RSS {c['peak_rss_mb']:.0f} MB"
    )
    lines.append(
        f"- fresh process, warm disk cache: first pass {warm['first_pass_s']:.1f} s (load {warm['load_s']:.1f} s); "
        f"steady state {per_doc*1000:.0f} ms/doc = {1/per_doc:.2f} docs/s; peak RSS {warm['peak_rss_mb']:.0f} MB"
    )
    if "all_one" in r:
        a = r["all_one"]
        lines.append(f"- all {a['docs']} examples, one process (incl. compiling ~60 volets): {a['first_pass_s']:.1f} s")
        b = r["all_two"]
        lines.append(
            f"- all {b['docs']} examples, 2 workers: startup {b['startup_s']:.1f} s, batch {b['batch_s']:.1f} s = "
            f"{b['docs_per_s']:.2f} docs/s, peak RSS/worker {b['peak_rss_mb_per_worker']:.0f} MB"
        )
    t = r["inscope_two"]
    lines.append(f"- in-scope ×5, 2 workers: {t['docs_per_s']:.2f} docs/s (batch {t['batch_s']:.1f} s)")
    if r.get("java"):
        java_s = statistics.median(j["seconds"] for j in r["java"])
        same = all(j["same"] for j in r["java"])
        lines.append(
            f"- Java chain (measured, JVM per step, {len(r['java'])} docs): median {java_s:.1f} s/doc; "
            f"verdicts identical: {same}"
        )
        src = "measured in this run"
    else:
        java_s = BASELINE_JAVA_SECONDS_PER_DOC
        src = "baseline.md §3.2 published figure (no Java here)"
    lines.append(
        f"- ratio, steady state one process vs Java per-document chain ({src}): {java_s/per_doc:.0f}×; "
        f"2 workers: {java_s*t['docs_per_s']:.0f}×; fresh warm process incl. load, per in-scope doc: "
        f"{java_s/(warm['process_to_first_pass_s']/warm['docs']):.0f}×; cold process: {java_s/(c['wall_s']/c['docs']):.0f}×"
    )
    print("\n".join(lines))
    r["summary"] = lines


if __name__ == "__main__":
    raise SystemExit(main())
