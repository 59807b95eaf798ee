"""The public runtime: load a compiled guideline, evaluate cases, get explained results."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import os
import types
from pathlib import Path

from . import cache as _cache
from .engine import Engine
from .logic import Unknown
from .result import Result, plain
from .schema import CaseError, Validator, json_schema, validate_case, validate_params


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
        self.option_rank = {o: i for i, o in enumerate(module.OPTIONS)}
        self.flag_rank = {f: i for i, f in enumerate(module.FLAGS)}
        self._default_params = validate_params(self.parameters, None)
        self._validate = Validator(self.inputs)
        self._with_known = self._validate.with_known  # bound once: evaluate() is the hot path
        self._fast = self._validate._fast  # canonical cases, without the call through with_known
        self._decide = self.engine.decide
        self.input_names = tuple(s.name for s in self.inputs)
        self.uses_today = getattr(module, "USES_TODAY", False)  # `today` in a condition: the evaluation date
        self.parameter_names = tuple(s.name for s in self.parameters)

    def __repr__(self):
        return f"<Guideline {self.id} {self.version} sha256={self.sha256[:12]}>"

    def __reduce__(self):
        """Plain pickle ships a guideline by its module's source (worker processes, Spark executors)."""
        from .portable import reduce_guideline

        return reduce_guideline(self)

    @property
    def header(self) -> dict:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    def schema(self) -> dict:
        return json_schema(self.id, self.inputs)

    def validate(self, case: dict) -> dict:
        """The validated case (missing inputs as Unknown); raises CaseError."""
        out = self._fast(case) if type(case) is dict else None
        return (out if out is not None else self._with_known(case))[0]

    def check_params(self, params: dict | None) -> dict:
        """The parameters used for a run: defaults overridden by `params`; raises CaseError."""
        return validate_params(self.parameters, params)

    def evaluate(self, case: dict, params: dict | None = None, *, trace: bool = False,
                 why_not: list[str] | tuple[str, ...] = (), params_checked: bool = False) -> Result:
        """Evaluate one case.  Raises CaseError for an invalid case or parameter.

        The decision is made at once; the words (`because`, the receipt) when first read.
        `params_checked`: `params` comes from `check_params` (a batch checks them once).
        """
        # `known`: every input has a value (parameters always do), so the plain-Python
        # conditions apply throughout (hgl.runtime.engine.Engine.run)
        out = self._fast(case) if type(case) is dict else None
        env, known = out if out is not None else self._with_known(case)
        if params_checked:
            env.update(params)
        elif params:
            env.update(validate_params(self.parameters, params))
        elif self._default_params:
            env.update(self._default_params)
        if self.uses_today and "today" not in env:
            env["today"] = _today()  # recorded in the receipt; give params {"today": …} to fix it
        if why_not:
            self._check_options(why_not)
        status, firing, missing, inconsistent, violated = self._decide(env, known)
        if status == "inconsistent_data":
            return Result(self, env, status, inconsistent=inconsistent, violated=violated)
        result = Result(self, env, status, firing, missing)
        if trace:
            result.add_trace()
        if why_not:
            result.add_why_not(why_not)
        return result

    def _check_options(self, ids):
        import difflib

        errors = []
        for oid in ids:
            if oid not in self.module.OPTIONS:
                close = difflib.get_close_matches(oid, list(self.module.OPTIONS), n=1)
                errors.append({"field": oid, "message": "unknown option",
                               **({"hint": f"did you mean '{close[0]}'?"} if close else {})})
        if errors:
            raise CaseError(errors)

    def evaluate_many(self, cases, params: dict | None = None):
        """Evaluate an iterable of cases; yields a Result, or a CaseError for an invalid case.

        Bad parameters raise CaseError at once (they are checked once, before any case).
        """
        checked = self.check_params(params)
        return self._many(cases, checked)

    def _many(self, cases, checked):
        for case in cases:
            try:
                yield self.evaluate(case, checked, params_checked=True)
            except CaseError as err:
                yield err

    def definitions(self, case: dict, params: dict | None = None) -> dict:
        """The derived facts of a case (for inspection and tests)."""
        env = validate_case(self.inputs, case)
        env.update(validate_params(self.parameters, params))
        env["__options__"] = self.module.OPTIONS
        self.engine.derive(env)
        env.pop("__options__")
        return {k: ("unknown" if isinstance(v, Unknown) else plain(v)) for k, v in env.items()}


# ---------------------------------------------------------------- loading

# Part of every cache file name: bump it whenever the shape of generated modules changes, so
# a module cached by an older compiler is never loaded by a newer runtime.
CACHE_TAG = "m16"
_loaded: dict[str, Guideline] = {}


def cache_dir() -> Path:
    """Where compiled modules are cached: $HGL_CACHE_DIR, else ~/.cache/hgl (read at each load)."""
    return _cache.root()


def cache_path(digest: str) -> Path:
    """The cache file of a source with this sha256."""
    return cache_dir() / f"{digest}-{CACHE_TAG}.py.signed"


def load_module_source(code: str, name: str) -> types.ModuleType:
    """Execute generated module source (trusted: produced by the compiler) as a module."""
    module = types.ModuleType(name)
    module.__file__ = f"<hgl:{name}>"
    exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102 - compiler output
    module.__hgl_code__ = code  # what pickling a Guideline ships (hgl.runtime.portable)
    return module


def _end_marker(digest: str) -> str:
    return f"# end of the module compiled from sha256 {digest}\n"


def _from_cache(path: Path, digest: str):
    """The cached module for `digest`, or None when the file is absent, untrusted, stale or damaged.

    Nothing is executed before it is proven to be what this user's hgl wrote (hgl.runtime.cache:
    a private directory, an HMAC over the file); a file that fails is set aside, never run.
    """
    payload = _cache.read_signed(path)
    if payload is None:
        return None
    try:
        code = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # the end marker, written last: a file cut short at a line boundary can still be valid Python
    if f"# source sha256 {digest}\n" not in code or _end_marker(digest) not in code:
        return None
    try:
        module = load_module_source(code, f"hgl_{digest[:12]}")
    except Exception:  # a module from an older hgl costs a recompile, never a wrong answer
        return None
    if getattr(module, "SOURCE_SHA256", None) != digest or not hasattr(module, "RULES"):
        return None
    return module


def _compile(path, text: str) -> str:
    try:
        from hgl.compiler import compile_source  # only when compiling: a deployment may ship built modules
        from hgl.compiler.front.source import Source
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("compiling a .hgl file needs hgl.compiler; load a built module instead") from exc
    result = compile_source(Source(str(path), text))
    if not result.ok:
        from hgl.compiler.front.diagnostics import HglError

        raise HglError(result.source, result.errors)
    return result.code


def load(path: str | os.PathLike, *, use_cache: bool = True) -> Guideline:
    """Load a guideline: a `.hgl` file (compiled, cached by source hash) or a built `.py` module.

    `use_cache=False` neither reads nor writes the cache (in memory or on disk).
    """
    p = Path(path)
    if p.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"hgl_built_{p.stem}", p)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Guideline(module)
    text = p.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if use_cache and digest in _loaded:
        return _loaded[digest]
    cache = cache_path(digest)
    module = _from_cache(cache, digest) if use_cache else None
    if module is None:
        code = _compile(path, text)
        module = load_module_source(code, f"hgl_{digest[:12]}")
        if use_cache:
            try:
                _cache.write_signed(cache, (code + _end_marker(digest)).encode("utf-8"))
            except OSError:
                pass  # a read-only home only costs a recompile
    if getattr(module, "SOURCE_SHA256", None) != digest:  # the receipt names the source actually compiled
        raise RuntimeError(f"{p}: the loaded module claims source sha256 {module.SOURCE_SHA256!r}, "
                           f"but the source has sha256 {digest}")
    guideline = Guideline(module)
    if use_cache:
        _loaded[digest] = guideline
    return guideline


__all__ = ["CaseError", "Guideline", "Result", "load", "load_module_source"]


def _today() -> datetime.date:
    """The clock's date, for a guideline that reads `today` and a run that does not fix it."""
    return datetime.date.today()
