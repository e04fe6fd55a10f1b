"""DMP benchmark: ITI-41 submissions checked per second, on a realistic submission (one VSM + its XAdES
signature document, SOAP 1.2 MTOM, signed VIHF), and the simulator's end-to-end throughput over HTTPS.

    python benchmarks/bench_dmp.py                 # print the figures (Markdown)
    python benchmarks/bench_dmp.py --write-readme  # also refresh the "DMP" section of benchmarks/README.md

The VSM is the official CI-SIS example (``$SEGUR_SHARED`` or ``../shared``: cisis-kit/ExemplesCDA/
VSM_1.4_2022.01.xml); without it, a synthetic CDA of the same size is used and the output says so.
No assertion: speed is measured here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.dmp import checks  # noqa: E402
from conformance.dmp.checks import CheckContext  # noqa: E402
from conformance.dmp.iti41 import parse_request  # noqa: E402
from conformance.dmp.pki import default_pki  # noqa: E402
from conformance.dmp.samples import synthetic_cda  # noqa: E402

README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- bench_dmp:start -->", "<!-- bench_dmp:end -->"
PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def _shared() -> Path:
    return Path(os.environ.get("SEGUR_SHARED") or ROOT.parent / "shared")


def _document() -> tuple[bytes, str]:
    vsm = _shared() / "cisis-kit" / "ExemplesCDA" / "VSM_1.4_2022.01.xml"
    if vsm.is_file():
        return vsm.read_bytes(), "VSM_1.4_2022.01.xml (exemple officiel CI-SIS)"
    data = synthetic_cda(padding=60_000)
    return data, f"CDA synthétique de {len(data)} octets (kit absent)"


def _submission(cda: bytes) -> tuple[str, bytes]:
    from segur_reference_dui import dmp_client

    facts = dmp_client.read_cda(cda)
    ident = dmp_client.vihf_identity(facts, PATIENT)
    ctype, body, _ = dmp_client.build_iti41(cda, facts, patient_cx=PATIENT, source_patient_id=PATIENT,
                                            to="https://127.0.0.1/dmp/repository",
                                            keypair=dmp_client.cachet_for(ident.structure_id))
    return ctype, body


def _rate(fn: Callable[[], object], seconds: float = 2.0, repeat: int = 5) -> tuple[float, float, float]:
    """(median per second, median ms per call, best per second) over ``repeat`` timed windows.

    The best window is shown beside the median because the benchmark machine is shared: the median
    says what to expect, the best what the code does when it has a core to itself.
    """
    fn()  # warm-up (imports, caches)
    rates = []
    for _ in range(repeat):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            n += 1
        rates.append(n / (time.perf_counter() - start))
    rate = statistics.median(rates)
    return rate, 1000.0 / rate, max(rates)


def measure(seconds: float) -> list[tuple[str, str]]:
    cda, label = _document()
    ctype, body = _submission(cda)
    headers = {"content-type": ctype}
    ctx = CheckContext(trust=[default_pki().ca.cert])

    def full() -> object:
        req = parse_request(body, ctype, artefact="bench.http", http_headers=headers)
        return checks.check_submission(req, ctx)

    req = parse_request(body, ctype, artefact="bench.http", http_headers=headers)
    findings = checks.check_submission(req, ctx)
    n_errors = sum(f.is_error for f in findings)
    rows = [("submission", f"{label} + document de signature XAdES ; {len(body) / 1024:.0f} Kio en MTOM"),
            ("erreurs sur la soumission de référence", str(n_errors))]
    rate, ms, best = _rate(full, seconds)
    rows.append(("**soumissions vérifiées par seconde** (lecture MTOM + tous les contrôles D1–D9, D15)",
                 f"**{rate:.0f} /s** médiane ({ms:.1f} ms chacune) ; meilleure fenêtre {best:.0f} /s"))
    for name, fn in (
        ("lecture seule (MTOM, SOAP, ebRIM)", lambda: parse_request(body, ctype, artefact="b", http_headers=headers)),
        ("VIHF (signature XML-DSig + attributs)", lambda: checks.check_vihf(req, ctx)),
        ("document de signature XAdES (signature + Manifest)", lambda: checks.check_signature(req, ctx)),
        ("métadonnées XDS (D4, D5, D8)", lambda: checks.check_metadata(req, ctx) + checks.check_hash_size(req)
         + checks.check_associations(req)),
        ("métadonnées / en-tête CDA (D6)", lambda: checks.check_against_cda(req)),
    ):
        _median, part_ms, part_best = _rate(fn, seconds / 2)
        rows.append((f"— dont {name}", f"{part_ms:.2f} ms (meilleure fenêtre {1000 / part_best:.2f} ms)"))
    rows.append(("simulateur : ITI-41 de bout en bout en HTTPS (requête, contrôles, stockage, réponse)",
                 _end_to_end(ctype, body, seconds)))
    return rows


def _end_to_end(ctype: str, body: bytes, seconds: float) -> str:
    import tempfile

    import requests

    from conformance.dmp.simulator import DmpSimulator

    with DmpSimulator() as sim, tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as ca:
        ca.write(sim.ca_pem)
        ca.flush()
        session = requests.Session()
        session.trust_env = False

        def one() -> object:
            resp = session.post(sim.url + "/repository", data=body, headers={"Content-Type": ctype},
                                verify=ca.name, timeout=30)
            assert resp.status_code == 200
            return resp

        rate, ms, best = _rate(one, seconds)
        outcome = sim.submissions()[-1].outcome
    os.unlink(ca.name)
    return f"{rate:.0f} /s médiane ({ms:.1f} ms) ; meilleure fenêtre {best:.0f} /s (connexion réutilisée ; {outcome})"


def markdown(rows: list[tuple[str, str]]) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [START, "## DMP", "",
             f"`python benchmarks/bench_dmp.py` — CPython {platform.python_version()}, {os.cpu_count()} cœurs, "
             f"un seul processus ; charge moyenne de la machine pendant la mesure (1 min) : {load:.1f}.", "",
             "| mesure | valeur |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "Where the time goes: the safe parse of the 64 KB CDA (once per request, shared by the checks; "
              "about half of it is safexml's Python depth walk), the SOAP parse, and the two signature "
              "verifications (VIHF and XAdES, signxml with schema validation); the MIME split itself is "
              "negligible.", END]
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed window")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    section = markdown(measure(args.seconds))
    print(section)
    if args.write_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
