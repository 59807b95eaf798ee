"""What a CDS Hooks patient-view with FHIR prefetch costs, in one process, part by part.

Run by hand (not a test):  .venv/bin/python bench/service_fhir.py [--seconds 5]
For the synthetic HER2 patient of tests/test_service_cds.py, the CPU time per call of:

- case_from_fhir with every FHIRPath through fhirpathpy's interpreter (the baseline, measured
  in the same run) and with hgl.runtime.fhirpath's compiled subset (what the service runs);
- evaluating the derived case (the guideline's runtime; the case misses what the clinician
  enters, so the result is needs_data with the missing inputs worked out), with the completion
  search on the module's dependency table and with the reference search (Engine.dependency_plans
  off, the baseline, measured in the same run);
- the whole answer of the service (check, case_from_fhir, evaluate, cards, JSON).

The rounds alternate (baseline, then subset, …) so that a busy machine slows both alike; the
ratio is the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_call(fn, seconds: float) -> float:
    """Milliseconds per call, over about `seconds`."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement and round (default: 3)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: 3)")
    args = ap.parse_args()

    from tests.test_service_cds import prefetch_for  # the synthetic FHIR patient

    from hgl.runtime import fhirin, fhirpath
    from hgl.runtime.service.cds import CdsHooks

    g = fhirin.load(ROOT / "guidelines" / "her2_mbc.hgl")
    prefetch = prefetch_for(fhirin.prefetch_templates(g))
    resources = list(prefetch.values())
    body = json.dumps({"hook": "patient-view", "hookInstance": "bench",
                       "context": {"patientId": "p1", "userId": "Practitioner/1"}, "prefetch": prefetch}).encode()
    cds = CdsHooks([g])
    service = cds.service(g.id)
    fast = fhirin.compile_path

    def slow_paths(text):
        f = fast(text)
        return getattr(f, "slow", f)

    def mapping():
        fhirin.case_from_fhir(g, resources)

    def answer():
        request = cds.check_request(json.loads(body), service)
        json.dumps(cds.answer(service, request, {}))

    case, _ = fhirin.case_from_fhir(g, resources)
    both: dict[str, list[float]] = {"fhirpathpy": [], "subset": []}
    for _ in range(args.rounds):
        fhirin.compile_path = slow_paths
        try:
            both["fhirpathpy"].append(per_call(mapping, args.seconds))
        finally:
            fhirin.compile_path = fast
        both["subset"].append(per_call(mapping, args.seconds))
    plans: dict[str, list[float]] = {"reference": [], "plans": [], "whole reference": [], "whole": []}
    for _ in range(args.rounds):
        g.engine.dependency_plans = False
        try:
            plans["reference"].append(per_call(lambda: g.evaluate(case), args.seconds))
            plans["whole reference"].append(per_call(answer, args.seconds))
        finally:
            g.engine.dependency_plans = True
        plans["plans"].append(per_call(lambda: g.evaluate(case), args.seconds))
        plans["whole"].append(per_call(answer, args.seconds))
    reference, evaluate = min(plans["reference"]), min(plans["plans"])
    whole_reference, whole = min(plans["whole reference"]), min(plans["whole"])
    slow_ms, fast_ms = min(both["fhirpathpy"]), min(both["subset"])
    print(f"patient-view with FHIR prefetch, one process, best of {args.rounds} x {args.seconds:g} s "
          f"(fhirpath subset module: {Path(fhirpath.__file__).name})")
    print(f"  case_from_fhir, fhirpathpy only (baseline)  {slow_ms:8.2f} ms/call")
    print(f"  case_from_fhir, compiled subset             {fast_ms:8.2f} ms/call   {slow_ms / fast_ms:5.1f}x faster")
    print(f"  evaluate the derived case, reference search {reference:8.2f} ms/call")
    print(f"  evaluate the derived case (needs_data)      {evaluate:8.2f} ms/call   "
          f"{reference / evaluate:5.1f}x faster (dependency plans)")
    print(f"  whole answer, reference search              {whole_reference:8.2f} ms/call")
    print(f"  whole answer (check, map, evaluate, cards)  {whole:8.2f} ms/call   "
          f"{whole_reference / whole:5.1f}x faster")


if __name__ == "__main__":
    main()
