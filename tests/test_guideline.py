"""The HER2 guideline against its specification: SPEC.md's names, types, defaults, rule groups,
provenance, data requests and governing order; the shipped cases (every rule fired); the examples.

SPEC.md and evidence.md are parsed from ../shared/clinical (beside the repository, in CI too), so
a name or default that drifts from the specification fails here rather than in a tool outside.
"""

from __future__ import annotations

import re

import pytest
import yaml

from hgl.runtime.casefile import load_case_file, run_case_file

from .conftest import GUIDELINE, OWN_CASES, ROOT, SHARED, VIGNETTES

SPEC = SHARED / "SPEC.md"
EVIDENCE_MD = SHARED / "evidence.md"
EXAMPLES = ROOT / "guidelines" / "examples"

# ---------------------------------------------------------------- parsing SPEC.md

TICKS = re.compile(r"`([^`]+)`")


def _text(path) -> str:
    return path.read_text(encoding="utf-8")


def _between(text: str, start: str, end: str | None) -> str:
    """The text from the first `start` up to the next `end` (or to the end)."""
    i = text.index(start)
    j = text.index(end, i) if end else len(text)
    return text[i:j]


def _rows(block: str) -> list[list[str]]:
    """Cells of the Markdown table rows of a block (header separators skipped)."""
    rows = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _name(cell: str) -> str | None:
    m = TICKS.fullmatch(cell)
    return m.group(1) if m else None


def _default(text: str):
    """The default a SPEC.md cell states ("default `EU`", "default 0", "default empty"), or None."""
    m = re.search(r"default\s+(`[^`]+`|\S+)", text)
    if not m:
        return None
    word = m.group(1).strip("`").rstrip(".,;")
    return {"0": 0, "true": True, "false": False, "empty": frozenset()}.get(word, word)


def _data_dictionary() -> list[tuple[str, str, str]]:
    """(name, type, values/unit) of every row of SPEC.md sections 2.1-2.5."""
    block = _between(_text(SPEC), "## 2. The case", "### 2.6")
    return [(_name(r[0]), r[1], r[2]) for r in _rows(block) if len(r) == 3 and _name(r[0])]


def _parameters() -> list[tuple[str, str, str]]:
    block = _between(_text(SPEC), "### 2.6", "## 3. Outputs")
    return [(_name(r[0]), r[1], r[2]) for r in _rows(block) if len(r) == 3 and _name(r[0])]


def _outputs() -> dict:
    """Section 3's vocabulary: options with drugs, drugless systemic outcomes, local options, flags."""
    text = _text(SPEC)
    block = _between(text, "## 3. Outputs", "### 3.1")
    with_drugs = {}
    for row in _rows(_between(block, "Systemic options and their drugs", "Other systemic outcomes")):
        for opt, drugs in zip(row[0::2], row[1::2]):
            if _name(opt):
                with_drugs[_name(opt)] = frozenset(drugs.split())

    def ticked(start: str, stop: str) -> list[str]:
        i = block.index(start) + len(start)
        return TICKS.findall(block[i:block.index(stop, i)])

    dictionary = _between(text, "## 2. The case", "## 3. Outputs")
    start = dictionary.index("`drug` is one of:") + len("`drug` is one of:")
    drugs = TICKS.findall(dictionary[start:dictionary.index("HER2-directed drugs:")])

    def plain(start: str) -> frozenset:
        i = dictionary.index(start) + len(start)
        return frozenset(w.strip() for w in dictionary[i:dictionary.index(".", i)].split(","))

    return {
        "with_drugs": with_drugs,
        "drugless": ticked("Other systemic outcomes (no drugs):", "which stands"),
        "chemotherapy_free": frozenset(ticked("Chemotherapy-free options:", ".")),
        "local": ticked("Local options:", "."),
        "flags": ticked("Flags (actions for the care team):", "."),
        "drugs": drugs,
        "her2_directed": plain("HER2-directed drugs:"),
        "cardiac_risk": plain("(the cardiac-risk set):"),
    }


def _provenance_tags() -> set[str]:
    block = _between(_text(SPEC), "## 1. Provenance", "## 2. The case")
    return {t for r in _rows(block) for t in TICKS.findall(r[0])}


def _groups() -> dict[str, dict]:
    """SPEC.md section 4 rule groups: '4.N' -> {title, provenance tags, governs?, data requests}."""
    body = _between(_text(SPEC), "## 4. Behaviour", None)
    order_at = body.index("Governing order (first wins)")
    heads = list(re.finditer(r"\*\*(4\.\d+) ([^*]+)\*\* \(([^)]*)\)", body))
    known = _provenance_tags()
    groups = {}
    for k, m in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else order_at
        text = body[m.start():end]
        groups[m.group(1)] = {
            "title": m.group(2),
            "tags": {t for t in TICKS.findall(m.group(3)) if t in known},
            "governs": "**governs**" in text,
            "requests": set(re.findall(r"\*\*request\((\w+)\)\*\*", text)),
        }
    return groups


def _governing_order() -> list[str]:
    body = _between(_text(SPEC), "Governing order (first wins)", None)
    return re.findall(r"\b4\.\d+\b", body.split("\n\n")[0])


def _evidence_catalogue() -> dict[str, dict]:
    rows = _rows(_text(EVIDENCE_MD))
    return {_name(r[0]): dict(zip(("trial", "design", "setting", "result"), r[1:5]))
            for r in rows if len(r) == 5 and _name(r[0])}


GROUPS = _groups()
GROUP_IDS = sorted(GROUPS, key=lambda g: int(g.split(".")[1]))

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module(her2):
    return her2.module


@pytest.fixture(scope="module")
def sections(module):
    """SPEC.md group ('4.N') -> the rules of the guideline section that encodes it."""
    by_id = {s.id: s.spec for s in module.SECTIONS}
    out: dict[str, list] = {}
    for r in module.RULES:
        out.setdefault(by_id[r.section], []).append(r)
    return out


@pytest.fixture(scope="module")
def inputs(module):
    return {s.name: s for s in module.INPUTS}


@pytest.fixture(scope="module")
def own_outcomes(her2):
    return run_case_file(her2, OWN_CASES)


# ---------------------------------------------------------------- section 2: data dictionary

KINDS = {"enum": "enum", "int": "int", "number": "number", "bool": "bool", "set of drug": "set"}


def test_the_spec_tables_were_read():
    # A guard for the parsers below: an edit to SPEC.md's layout must not make these tests vacuous.
    assert len(_data_dictionary()) == 47
    assert [p[0] for p in _parameters()] == ["early_relapse_policy", "include_post_publication",
                                            "discontinuation_threshold_months"]
    assert GROUP_IDS == [f"4.{i}" for i in range(16)]
    assert len(_outputs()["with_drugs"]) == 21


@pytest.mark.parametrize("name,type_,values", [pytest.param(*row, id=row[0]) for row in _data_dictionary()])
def test_input_matches_the_data_dictionary(inputs, module, name, type_, values):
    assert name in inputs, f"SPEC.md input {name} is not declared"
    spec = inputs[name]
    assert not spec.is_parameter
    if type_.startswith("a systemic option"):
        assert spec.kind == "option"
        assert set(spec.values) == {o for o, x in module.OPTIONS.items() if x.drugs} | {"none"}
    else:
        assert spec.kind == KINDS[type_]
    allowed = values.split("default")[0]
    if spec.kind == "enum":
        assert set(spec.values) == set(TICKS.findall(allowed))
    if spec.kind == "set":
        assert set(spec.values) == set(_outputs()["drugs"])
    if spec.kind in ("int", "number"):
        unit = values.split()[0] if values.split() and values.split()[0] in ("months", "mm", "%", "years") else None
        assert spec.unit == unit
        span = re.search(r"(\d+)–(\d+)", allowed)
        if span:
            assert (spec.minimum, spec.maximum) == (int(span.group(1)), int(span.group(2)))
        if "≥ 0" in allowed:
            assert spec.minimum == 0
    # Each default is a clinical assumption: exactly those SPEC.md states, and no others.
    expected = _default(values)
    if expected is None:
        assert not spec.has_default, f"{name} has a default SPEC.md does not give"
    else:
        assert spec.has_default and spec.default == expected


def test_no_input_beyond_the_data_dictionary(inputs):
    assert set(inputs) == {row[0] for row in _data_dictionary()}


@pytest.mark.parametrize("name,default,meaning", [pytest.param(*row, id=row[0]) for row in _parameters()])
def test_parameter_matches_section_2_6(module, name, default, meaning):
    params = {p.name: p for p in module.PARAMETERS}
    assert name in params
    p = params[name]
    assert p.is_parameter and p.provenance, "a policy parameter says where its default comes from"
    value = default.strip("`")
    if value in ("true", "false"):
        assert p.kind == "bool" and p.default is (value == "true")
    elif value.isdigit():
        assert p.kind == "number" and p.default == int(value) and p.unit == "months"
    else:
        assert p.kind == "enum" and p.default == value
        assert set(p.values) == {v for v in TICKS.findall(meaning) if f"`{v}`:" in meaning}


# ---------------------------------------------------------------- section 3: outputs

def test_options_with_drugs(module):
    expected = _outputs()["with_drugs"]
    actual = {o: x.drugs for o, x in module.OPTIONS.items() if x.drugs}
    assert actual == expected
    assert all(module.OPTIONS[o].kind == "systemic" for o in expected)


def test_drugless_systemic_outcomes_and_local_options(module):
    out = _outputs()
    assert out["drugless"] == ["her2_negative_pathway", "clinical_trial", "best_supportive_care", "continue_current"]
    for o in out["drugless"]:
        assert module.OPTIONS[o].kind == "systemic" and not module.OPTIONS[o].drugs
    assert module.OPTIONS["continue_current"].stands_for == "current_regimen"
    assert {o for o, x in module.OPTIONS.items() if x.kind == "local"} == set(out["local"])
    assert set(module.OPTIONS) == set(out["with_drugs"]) | set(out["drugless"]) | set(out["local"])


def test_flags_and_roles(module):
    assert set(module.FLAGS) == set(_outputs()["flags"])
    # SPEC.md 3.1: avoid beats preferred beats alternative.
    assert tuple(module.ROLE_ORDER) == ("avoid", "preferred", "alternative")


def test_drug_vocabulary_and_named_sets(her2, module):
    out = _outputs()
    assert list(module.VOCABULARIES["drug"]) == out["drugs"]
    base, _ = load_case_file(VIGNETTES)
    facts = her2.definitions(base)
    assert frozenset(facts["her2_directed"]) == out["her2_directed"]
    assert frozenset(facts["cardiac_risk"]) == out["cardiac_risk"]
    assert frozenset(facts["chemotherapy_free"]) == out["chemotherapy_free"]


# ---------------------------------------------------------------- section 1 and evidence.md

def test_provenance_tags_and_cautions(module):
    assert set(module.PROVENANCE) == _provenance_tags()
    # SPEC.md 1: a recommendation tagged verify or inference is visibly marked.
    assert module.PROVENANCE["verify"]["caution"] and module.PROVENANCE["inference"]["caution"]


def test_evidence_matches_the_catalogue(module):
    catalogue = _evidence_catalogue()
    assert len(catalogue) == 24
    assert {k: {f: v[f] for f in ("trial", "design", "setting", "result")} for k, v in module.EVIDENCE.items()} \
        == catalogue
    cited = {e for r in module.RULES for e in r.evidence}
    assert cited == set(catalogue), "every catalogued trial is cited by a rule, and only those"


# ---------------------------------------------------------------- section 4: rule groups

# Rules whose provenance SPEC.md gives apart from their group's.
PROVENANCE_EXACT = {
    # SPEC.md 2.6: post-publication options are offered "tagged post_publication"; the group's
    # sources predate them.
    "first_line_post_publication": {"post_publication", "trial"},
    "maintenance_post_publication": {"post_publication", "trial"},
    # SPEC.md 3, constraint 5(a): a global constraint with no source; tagged inference.
    "finished_not_preferred": {"inference"},
}
# Tags SPEC.md adds to one rule of a group.
PROVENANCE_EXTRA = {"early_relapse_after_tdxd": {"inference"}}


def test_every_group_is_encoded(module):
    specs = [s.spec for s in module.SECTIONS]
    assert sorted(specs) == sorted(GROUPS), "one guideline section per SPEC.md rule group"


@pytest.mark.parametrize("group", GROUP_IDS)
def test_group_provenance_rationale_and_governing(sections, module, group):
    rules = sections.get(group, [])
    assert rules, f"no rule encodes SPEC.md {group}"
    tags = GROUPS[group]["tags"]
    for r in rules:
        assert r.rationale and r.rationale.strip(), f"{r.id} has no rationale"
        assert r.strength, f"{r.id} has no strength"
        assert r.provenance, f"{r.id} has no provenance"
        prov = set(r.provenance)
        if r.id in PROVENANCE_EXACT:
            assert prov == PROVENANCE_EXACT[r.id], r.id
        else:
            needed = tags | PROVENANCE_EXTRA.get(r.id, set())
            assert prov >= needed, f"{r.id}: {sorted(prov)} lacks {sorted(needed - prov)}"
        if "trial" in prov:
            assert r.evidence, f"{r.id} is tagged trial but names no trial"
    governing = [r.id for r in rules if r.governs]
    if GROUPS[group]["governs"]:
        assert governing, f"SPEC.md {group} governs systemic therapy, but no rule governs"
    else:
        assert not governing, f"SPEC.md {group} does not govern: {governing}"


@pytest.mark.parametrize("group", GROUP_IDS)
def test_group_data_requests(sections, group):
    asked = {o.input for r in sections.get(group, []) for b in r.branches for o in b.outcomes if o.kind == "request"}
    assert asked == GROUPS[group]["requests"]


def test_governing_order(module):
    spec_of = {s.id: s.spec for s in module.SECTIONS}
    assert [spec_of[s] for s in module.GOVERNING_ORDER] == _governing_order()


# ---------------------------------------------------------------- the shipped cases

def test_own_cases_pass(own_outcomes):
    failures = {o.id: o.failures for o in own_outcomes if not o.passed}
    assert failures == {}


def test_own_cases_fire_every_rule(module, own_outcomes):
    fired = set().union(*(o.rules for o in own_outcomes))
    assert [r.id for r in module.RULES if r.id not in fired] == []


def test_own_cases_assert_status_and_have_ids():
    _, cases = load_case_file(OWN_CASES)
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"H\d{3}|M\d+", i) for i in ids)  # M: the block proposed by `hgl test --mutate`
    assert [c["id"] for c in cases if "status" not in (c.get("expect") or {})] == []


# ---------------------------------------------------------------- the examples (make demo)

EXAMPLE_RESULTS = {
    "first_line": ("recommendation", {"thp"}),
    "early_relapse": ("recommendation", {"t_dxd"}),
    "second_line": ("recommendation", {"t_dxd"}),
    "later_line": ("recommendation", {"tucatinib_trastuzumab_capecitabine"}),
    "brain_metastases": ("recommendation", {"t_dxd"}),
    "cns_oligoprogression": ("recommendation", {"srs", "continue_current"}),
    "leptomeningeal": ("recommendation", {"tucatinib_trastuzumab_capecitabine"}),
    "oligometastatic": ("recommendation", {"thp", "local_ablative_therapy"}),
    "older_patient": ("recommendation", {"hp_metronomic_cyclophosphamide"}),
    "hr_maintenance": ("recommendation", {"hp_endocrine"}),
    "needs_data": ("needs_data", {"t_dxd"}),
}


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES.glob("*.yaml")} == set(EXAMPLE_RESULTS)


@pytest.mark.parametrize("name,status,preferred", [pytest.param(k, *v, id=k) for k, v in EXAMPLE_RESULTS.items()])
def test_example_evaluates(her2, name, status, preferred):
    path = EXAMPLES / f"{name}.yaml"
    text = _text(path)
    assert text.startswith("# Scenario:"), "each example opens with a comment saying its scenario"
    case = yaml.safe_load(text)
    assert isinstance(case, dict) and "cases" not in case, "an example is one plain case"
    result = her2.evaluate(case)  # raises CaseError for an invalid case
    assert result.status == status
    assert set(result.preferred) == preferred


@pytest.mark.parametrize("name", sorted(EXAMPLE_RESULTS))
def test_example_runs_from_the_command_line(capsys, name):
    from hgl.compiler.cli import main

    assert main(["run", str(GUIDELINE), "--case", str(EXAMPLES / f"{name}.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("her2_mbc ")
    assert EXAMPLE_RESULTS[name][0].replace("_", " ").upper() in out
