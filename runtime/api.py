"""The public runtime: load a compiled guideline, evaluate cases, get explained results."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path

from .engine import Engine
from .logic import Unknown
from .model import format_value
from .schema import CaseError, json_schema, validate_case, validate_params


@dataclass
class Result:
    """One evaluated case; `to_dict()` gives the result contract of SPEC.md 3.1."""

    guideline: dict
    status: str
    options: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    inconsistent: list = field(default_factory=list)
    violated: list = field(default_factory=list)
    governing: str | None = None
    receipt: dict = field(default_factory=dict)
    trace: list | None = None
    why_not: dict | None = None

    def to_dict(self) -> dict:
        d = {
            "guideline": self.guideline,
            "status": self.status,
            "options": self.options,
            "flags": self.flags,
            "missing": self.missing,
            "inconsistent": self.inconsistent,
        }
        if self.violated:
            d["violated"] = self.violated
        d["governing"] = self.governing
        d["receipt"] = self.receipt
        if self.trace is not None:
            d["trace"] = self.trace
        if self.why_not is not None:
            d["why_not"] = self.why_not
        return d

    def ids(self, role: str) -> list[str]:
        return [o["id"] for o in self.options if o["role"] == role]

    @property
    def preferred(self):
        return self.ids("preferred")

    @property
    def alternatives(self):
        return self.ids("alternative")

    @property
    def avoid(self):
        return self.ids("avoid")

    @property
    def flag_ids(self):
        return [f["id"] for f in self.flags]


def _plain(value):
    if isinstance(value, Unknown):
        return None
    if isinstance(value, frozenset):
        return sorted(value)
    return value


class Guideline:
    """A compiled guideline, ready to evaluate cases."""

    def __init__(self, module: types.ModuleType):
        self.module = module
        self.engine = Engine(module)
        meta = module.GUIDELINE
        self.id = meta.get("id")
        self.version = meta.get("version")
        self.sha256 = module.SOURCE_SHA256
        self.inputs = module.INPUTS
        self.parameters = module.PARAMETERS
        self._option_rank = {o: i for i, o in enumerate(module.OPTIONS)}
        self._flag_rank = {f: i for i, f in enumerate(module.FLAGS)}

    def __repr__(self):
        return f"<Guideline {self.id} {self.version} sha256={self.sha256[:12]}>"

    @property
    def header(self) -> dict:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    def schema(self) -> dict:
        return json_schema(self.id, self.inputs)

    def validate(self, case: dict) -> dict:
        """The validated case (missing inputs as Unknown); raises CaseError."""
        return validate_case(self.inputs, case)

    def evaluate(self, case: dict, params: dict | None = None, *, trace: bool = False,
                 why_not: list[str] | tuple[str, ...] = ()) -> Result:
        """Evaluate one case.  Raises CaseError for an invalid case or parameter."""
        env = validate_case(self.inputs, case)
        p = validate_params(self.parameters, params)
        validated = {k: _plain(v) for k, v in env.items()}
        env.update(p)
        raw = self.engine.run(env)
        receipt = {"guideline": self.header, "hgl_version": self.module.HGL_VERSION,
                   "parameters": {k: _plain(v) for k, v in p.items()}, "input": validated}
        result = Result(self.header, raw["status"], receipt=receipt)
        if raw["status"] == "inconsistent_data":
            result.inconsistent = raw["inconsistent"]
            result.violated = [{"constraint": c.id, "label": c.label, "inputs": list(c.inputs)}
                               for c in raw["violated"]]
            return result
        firing = raw["firing"]
        result.missing = raw["missing"]
        result.governing = firing.governing
        self._fill(result, env, firing)
        if trace:
            result.trace = self._trace(env, firing)
        if why_not:
            result.why_not = {o: self.engine.why_not(env, o, firing.proposal) for o in why_not}
        return result

    def evaluate_many(self, cases, params: dict | None = None):
        """Evaluate an iterable of cases; yields a Result, or a CaseError for an invalid case."""
        for case in cases:
            try:
                yield self.evaluate(case, params)
            except CaseError as err:
                yield err

    # ------------------------------------------------------------------ result assembly
    def _fill(self, result: Result, env, firing):
        m = self.module
        rules = self.engine.rules
        role_rank = {r: i for i, r in enumerate(("preferred", "alternative", "avoid"))}
        opts = sorted(firing.roles.items(), key=lambda kv: (role_rank[kv[1]], self._option_rank[kv[0]]))
        P = firing.proposal
        for oid, role in opts:
            rule_id, branch = firing.by[oid]
            rule = rules[rule_id]
            opt = m.OPTIONS[oid]
            entry = {"id": oid, "kind": opt.kind, "role": role, "label": opt.label, "rule": rule_id,
                     "provenance": list(rule.provenance), "evidence": list(rule.evidence),
                     "because": self.engine.because(env, rule_id, branch, P),
                     "proposed_by": list(firing.proposed_by.get(oid, ())), "strength": rule.strength}
            if opt.stands_for:
                entry["stands_for"] = _plain(env.get(opt.stands_for))
            result.options.append(entry)
        for fid in sorted(firing.flags, key=lambda f: self._flag_rank[f]):
            rule_id, branch = firing.flags[fid][0]
            rule = rules[rule_id]
            entry = {"id": fid, "label": m.FLAGS[fid].label, "rule": rule_id,
                     "provenance": list(rule.provenance),
                     "because": self.engine.because(env, rule_id, branch, P),
                     "request": any(req[0] == rule_id for req in firing.requests.values()
                                    if fid in self._request_flags(req)),
                     "rules": list(dict.fromkeys(r for r, _ in firing.flags[fid]))}
            result.flags.append(entry)

    def _request_flags(self, req) -> set:
        rule_id, branch = req
        return {o.flag for o in self.engine.rules[rule_id].branches[branch].outcomes if o.kind == "request"}

    def _trace(self, env, firing) -> list:
        """Every rule with its truth value and the conditions it read."""
        from .logic import truth

        out = []
        for r in self.module.RULES:
            P = firing.proposal
            v = r.when(env, P) if r.when is not None else True
            entry = {"rule": r.id, "section": r.section, "value": truth(v)}
            if isinstance(v, Unknown):
                entry["unknown_because_missing"] = sorted(v.inputs)
            out.append(entry)
        return out

    def definitions(self, case: dict, params: dict | None = None) -> dict:
        """The derived facts of a case (for inspection and tests)."""
        env = validate_case(self.inputs, case)
        env.update(validate_params(self.parameters, params))
        env["__options__"] = self.module.OPTIONS
        self.module.derive(env)
        env.pop("__options__")
        return {k: ("unknown" if isinstance(v, Unknown) else _plain(v)) for k, v in env.items()}


# ---------------------------------------------------------------- loading

_CACHE_DIR = Path(os.environ.get("HGL_CACHE_DIR", Path.home() / ".cache" / "hgl"))
_loaded: dict[str, Guideline] = {}


def load_module_source(code: str, name: str) -> types.ModuleType:
    """Execute generated module source (trusted: produced by the compiler) as a module."""
    module = types.ModuleType(name)
    module.__file__ = f"<hgl:{name}>"
    exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102 - compiler output
    return module


def load(path: str | os.PathLike) -> Guideline:
    """Load a guideline: a `.hgl` file (compiled, cached by source hash) or a built `.py` module."""
    p = Path(path)
    if p.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"hgl_built_{p.stem}", p)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Guideline(module)
    text = p.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest in _loaded:
        return _loaded[digest]
    cache = _CACHE_DIR / f"{digest}.py"
    code = None
    if cache.exists():
        code = cache.read_text(encoding="utf-8")
        if f"# source sha256 {digest}" not in code:
            code = None
    if code is None:
        try:
            from hgl.compiler import compile_source  # only when compiling: a deployment may ship built modules
            from hgl.compiler.source import Source
        except ImportError as exc:  # pragma: no cover
            raise RuntimeError("compiling a .hgl file needs hgl.compiler; load a built module instead") from exc
        result = compile_source(Source(str(path), text))
        if not result.ok:
            from hgl.compiler.diagnostics import HglError

            raise HglError(result.source, result.errors)
        code = result.code
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(code, encoding="utf-8")
            tmp.replace(cache)
        except OSError:
            pass  # a read-only home only costs a recompile
    guideline = Guideline(load_module_source(code, f"hgl_{digest[:12]}"))
    _loaded[digest] = guideline
    return guideline


def result_json(result) -> str:
    if isinstance(result, CaseError):
        return json.dumps(result.to_dict(), ensure_ascii=False)
    return json.dumps(result.to_dict(), ensure_ascii=False)


def describe_value(value, unit=None) -> str:
    return format_value(value, unit)


__all__ = ["CaseError", "Guideline", "Result", "load", "load_module_source"]
