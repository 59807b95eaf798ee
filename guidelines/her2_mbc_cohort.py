"""A synthetic cohort for guidelines/her2_mbc.hgl: realistic records, for demos and benchmarks.

    python guidelines/her2_mbc_cohort.py -n 10000 -o build/cohort.parquet   # or .jsonl
    python guidelines/her2_mbc_cohort.py -n 10000 --seed 7 -o cohort.jsonl

Synthetic patients, not real ones, and no clinical claim: the numbers only make the records
look like a registry's.  What makes them realistic for a guideline engine is their shape:
fields that do not apply are left out, as real records leave them out (no HER2 retest result
when the metastasis was not biopsied, no G8 score for most patients under 70 -- it is absent
in about 95% of the records --, no brain-metastasis size without brain metastases, no
regimen response without a current regimen), fields with a default are mostly absent, and
about 1% of the values are explicitly unknown (null, also for fields with a default).

Each record has a `patient_id` and a `treatment_started` (an option id of the guideline, or
a regimen it does not list), the column `hgl cohort --concordance` compares with.  Those are
not inputs of the guideline: `records(n, seed, extra=False)` leaves them out.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

# regimens by metastatic line (0 = first line), as (option id, its drugs)
_SEQUENCE = [("thp", ("trastuzumab", "pertuzumab", "taxane")), ("t_dxd", ("t_dxd",)),
             ("tucatinib_trastuzumab_capecitabine", ("tucatinib", "trastuzumab", "capecitabine")),
             ("t_dm1", ("t_dm1",)), ("lapatinib_capecitabine", ("lapatinib", "capecitabine"))]
# what a patient starts at a new line: (treatment, weight); ids not in the guideline are unlisted
_STARTED = {
    0: [("thp", 70), ("hp_endocrine", 6), ("trastuzumab_chemo", 7), ("t_dxd", 5), ("tdxd_pertuzumab", 4),
        ("paclitaxel_bevacizumab", 5), ("clinical_trial", 3)],
    1: [("t_dxd", 72), ("t_dm1", 10), ("tucatinib_trastuzumab_capecitabine", 8), ("eribulin", 6),
        ("clinical_trial", 4)],
    2: [("tucatinib_trastuzumab_capecitabine", 48), ("t_dm1", 22), ("t_dxd", 8), ("lapatinib_capecitabine", 6),
        ("eribulin", 10), ("clinical_trial", 6)],
    3: [("t_dm1", 30), ("lapatinib_capecitabine", 18), ("neratinib_capecitabine", 12), ("margetuximab_chemo", 5),
        ("eribulin", 20), ("clinical_trial", 10), ("best_supportive_care", 5)],
}
_SITES = ("bone_decalcified", "bone_other", "liver", "lung", "lymph_node", "soft_tissue", "cytology", "other")


def _pick(rnd, weighted):
    total = sum(w for _, w in weighted)
    x = rnd.uniform(0, total)
    for item, w in weighted:
        x -= w
        if x <= 0:
            return item
    return weighted[-1][0]


def patient(rnd: random.Random) -> dict:
    """One record (inputs of her2_mbc.hgl only); absent = not applicable or not recorded."""
    r = {}
    line = _pick(rnd, [(0, 40), (1, 25), (2, 18), (3, 10), (4, 7)])  # the line about to start (or running)
    on_therapy_responding = rnd.random() < 0.3 and line > 0
    r["her2_status_primary"] = "positive" if rnd.random() < 0.97 else "low"
    if rnd.random() < 0.4:  # the metastasis was biopsied and retested
        r["her2_status_metastatic"] = _pick(rnd, [("positive", 90), ("low", 6), ("zero", 4)])
        r["metastatic_biopsy_site"] = rnd.choice(_SITES)
        r["her2_ihc_metastatic"] = {"positive": rnd.choice((2, 3, 3, 3)), "low": 1, "zero": 0}[r["her2_status_metastatic"]]
        if r["her2_ihc_metastatic"] == 2:
            r["her2_ish_metastatic"] = "amplified"
    else:
        r["her2_status_metastatic"] = "not_done"
    r["hr_status"] = "positive" if rnd.random() < 0.55 else "negative"
    if rnd.random() < 0.1:
        r["erbb2_mutation"] = rnd.choice(("not_detected", "not_detected", "detected"))
    de_novo = rnd.random() < 0.4
    r["presentation"] = "de_novo" if de_novo else "recurrent"
    if de_novo:
        r["adjuvant_her2"] = []
    else:
        r["adjuvant_her2"] = ["trastuzumab", "taxane"] + (["pertuzumab"] if rnd.random() < 0.5 else [])
        r["months_since_adjuvant_her2"] = round(rnd.uniform(2, 72), 1)
    r["months_since_metastatic_diagnosis"] = round(rnd.uniform(0, 2) if line == 0 else rnd.uniform(4, 14) * line, 1)
    r["visceral_crisis"] = rnd.random() < 0.05
    # the treatment so far: finished lines, and the regimen running now (if any)
    finished = line if not on_therapy_responding else line - 1
    progressing_on = line > 0 and not on_therapy_responding and rnd.random() < 0.8
    if progressing_on:
        finished = line - 1  # progressing on the line's regimen: it is still the current one
    r["prior_her2_lines"] = finished
    drugs = sorted({d for _, ds in _SEQUENCE[:finished] for d in ds})
    if drugs:
        r["prior_drugs_metastatic"] = drugs
    r["progressed_on_capecitabine"] = "capecitabine" in drugs
    current = _SEQUENCE[min(finished, len(_SEQUENCE) - 1)][0] if (on_therapy_responding or progressing_on) else None
    if current == "thp" and on_therapy_responding and rnd.random() < 0.7:
        current = "hp_maintenance"
        r["induction_completed"] = True
    if current is not None:
        r["current_regimen"] = current
        r["current_response"] = rnd.choice(("cr", "pr", "sd", "sd")) if on_therapy_responding else "pd"
        if r["current_response"] == "cr":
            r["cr_duration_months"] = round(rnd.uniform(0.5, 1) * r["months_since_metastatic_diagnosis"], 1)
    r.setdefault("induction_completed", False)
    r["extracranial_status"] = "controlled" if on_therapy_responding else "progressing"
    if on_therapy_responding and rnd.random() < 0.05:  # oligo-progression: the rest stays controlled
        r["extracranial_oligoprogression"] = True
    r["metastatic_lesion_count"] = rnd.randint(1, 15)
    r["all_lesions_amenable_to_local_therapy"] = r["metastatic_lesion_count"] <= 3 and rnd.random() < 0.5
    r["complete_staging"] = rnd.random() < 0.95
    r["low_burden_indolent"] = rnd.random() < 0.1
    bm = _pick(rnd, [("none", 80), ("stable_treated", 10), ("active_untreated", 6), ("active_progressing", 4)])
    r["bm_status"] = bm
    r["bm_count"] = 0 if bm == "none" else rnd.randint(1, 6)
    if bm.startswith("active"):
        r["bm_max_diameter_mm"] = round(rnd.uniform(3, 35), 0)
    r["bm_symptomatic"] = bm.startswith("active") and rnd.random() < 0.4
    r["bm_mass_effect"] = bm.startswith("active") and rnd.random() < 0.1
    r["new_neuro_symptoms_unimaged"] = rnd.random() < 0.02
    r["lmd_status"] = "none" if rnd.random() < 0.98 else "suspected"
    r["hydrocephalus"] = False
    r["kps"] = rnd.choice((60, 70, 80, 80, 90, 90, 90, 100))
    r["age_years"] = max(28, min(92, int(rnd.gauss(58, 12))))
    if r["age_years"] >= 70 and rnd.random() < 0.35:
        r["g8_score"] = round(rnd.uniform(8, 17), 1)
        r["cga_category"] = rnd.choice(("fit", "vulnerable", "frail")) if r["g8_score"] <= 14 else "not_done"
    r["ecog"] = _pick(rnd, [(0, 40), (1, 45), (2, 12), (3, 3)])
    r["lvef_percent"] = max(35, min(75, round(rnd.gauss(61, 5))))  # below 50 % in about 1.5%
    r["heart_failure_symptomatic"] = rnd.random() < 0.02
    r["ild_history"] = _pick(rnd, [("none", 95), ("prior_steroid_requiring", 4), ("current", 1)])
    r["taxane_contraindicated"] = rnd.random() < 0.05
    r["declines_chemotherapy"] = rnd.random() < 0.05
    if rnd.random() < 0.05:
        r["pertuzumab_available"] = False
    jur = _pick(rnd, [(None, 60), ("US", 25), ("other", 15)])
    if jur:
        r["jurisdiction"] = jur
    for name in list(r):  # about 1% of the values are unknown: an explicit null
        if rnd.random() < 0.01:
            r[name] = None
    if rnd.random() < 0.01:
        r["pertuzumab_available"] = None  # unknown, even though the field has a default
    r["_started"] = ("continue_current" if on_therapy_responding and rnd.random() < 0.9
                     else _pick(rnd, _STARTED[min(line, 3)]))
    return r


def records(n: int, seed: int = 1, extra: bool = True):
    """`n` records; with `extra`, each starts with `patient_id` and ends with `treatment_started`."""
    rnd = random.Random(seed)
    for i in range(n):
        r = patient(rnd)
        started = r.pop("_started")
        yield ({"patient_id": f"P{i + 1:07d}", **r, "treatment_started": started} if extra else r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="patients")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True, help=".jsonl, or .parquet (needs pyarrow)")
    args = ap.parse_args(argv)
    if args.output.endswith(".parquet"):
        from pathlib import Path

        from hgl.runtime import load
        from hgl.runtime.columnar import write_parquet

        guideline = load(Path(__file__).with_name("her2_mbc.hgl"))
        write_parquet(guideline, records(args.n, args.seed), args.output, extra=("patient_id", "treatment_started"))
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            for r in records(args.n, args.seed):
                fh.write(json.dumps(r) + "\n")
    print(f"wrote {args.n} synthetic patients to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
