"""Case validation against a compiled guideline's inputs, and their JSON Schema."""

from __future__ import annotations

import difflib
import math
import re

from . import units
from .logic import missing
from .model import InputSpec

_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]+)\s*$")


class CaseError(ValueError):
    """A case that is not a valid case; `errors` is a list of {field, message[, hint]}."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    def to_dict(self) -> dict:
        return {"error": "invalid_case", "fields": self.errors}


def suggest(word, choices) -> str | None:
    """The closest allowed name: a case-insensitive match, a unique prefix, else a near spelling."""
    if not isinstance(word, str):
        return None
    lower = {c.lower(): c for c in choices}
    w = word.lower()
    if w in lower:
        return lower[w]
    prefixed = [c for c in choices if c.lower().startswith(w)] if len(w) >= 2 else []
    if len(prefixed) == 1:
        return prefixed[0]
    close = difflib.get_close_matches(w, list(lower), n=1)
    return lower[close[0]] if close else None


def _did_you_mean(word, choices) -> str:
    close = suggest(word, choices)
    return f"did you mean '{close}'? " if close else ""


def _err(name, message, hint=None):
    e = {"field": name, "message": message}
    if hint:
        e["hint"] = hint
    return e


def _number(spec: InputSpec, value, errors):
    name = spec.name
    if isinstance(value, bool):
        errors.append(_err(name, f"expected a number{_unit_words(spec)}, got {value!r}"))
        return None
    unit_given = None
    if isinstance(value, dict) and set(value) == {"value", "unit"}:
        unit_given, value = value["unit"], value["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(unit_given, str):
            errors.append(_err(name, "expected {\"value\": <number>, \"unit\": \"<unit>\"}"))
            return None
    elif isinstance(value, str):
        m = _QUANTITY.match(value)
        if not m:
            errors.append(_err(name, f"expected a number{_unit_words(spec)}, got {value!r}"))
            return None
        value = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
        unit_given = m.group(2)
    elif not isinstance(value, (int, float)):
        errors.append(_err(name, f"expected a number{_unit_words(spec)}, got {type(value).__name__}"))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(_err(name, "expected a finite number"))
        return None
    if unit_given is not None:
        if spec.unit is None:
            errors.append(_err(name, f"this input has no unit, but '{unit_given}' was given"))
            return None
        canon = units.canonical(unit_given)
        if canon is None:
            errors.append(_err(name, f"unknown unit '{unit_given}'", "units: " + ", ".join(units.UNITS)))
            return None
        try:
            value = units.convert(value, canon, spec.unit)
        except ValueError:
            errors.append(_err(name, f"'{unit_given}' is not a unit of {units.dimension(spec.unit)}; "
                                     f"this input is in {spec.unit}"))
            return None
    if spec.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                errors.append(_err(name, f"expected a whole number, got {value!r}"))
                return None
            value = int(value)
    if spec.minimum is not None and value < spec.minimum:
        errors.append(_err(name, f"{value} is below the minimum {_fmt(spec.minimum)}{_unit_words(spec)}"))
        return None
    if spec.maximum is not None and value > spec.maximum:
        errors.append(_err(name, f"{value} is above the maximum {_fmt(spec.maximum)}{_unit_words(spec)}"))
        return None
    return value


def _fmt(x):
    return str(int(x)) if float(x).is_integer() else str(x)


def _unit_words(spec):
    return f" in {spec.unit}" if spec.unit else ""


def _choice(spec: InputSpec, value, errors):
    if not isinstance(value, str):
        errors.append(_err(spec.name, f"expected one of {', '.join(spec.values)}, got {value!r}"))
        return None
    if value not in spec.values:
        errors.append(_err(spec.name, f"'{value}' is not an allowed value",
                           _did_you_mean(value, spec.values) + "allowed: " + ", ".join(spec.values)))
        return None
    return value


def _set(spec: InputSpec, value, errors):
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        errors.append(_err(spec.name, f"expected a list of {', '.join(spec.values[:6])}…, got {value!r}"))
        return None
    out = []
    for item in value:
        if not isinstance(item, str) or item not in spec.values:
            errors.append(_err(spec.name, f"{item!r} is not an allowed value",
                               _did_you_mean(item, spec.values) + "allowed: " + ", ".join(spec.values)))
            return None
        out.append(item)
    return frozenset(out)


def coerce(spec: InputSpec, value, errors: list):
    """One value of an input, checked and converted to the declared unit; None when invalid."""
    if spec.kind == "bool":
        if not isinstance(value, bool):
            errors.append(_err(spec.name, f"expected true or false, got {value!r}"))
            return None
        return value
    if spec.kind in ("int", "number"):
        return _number(spec, value, errors)
    if spec.kind in ("enum", "option"):
        return _choice(spec, value, errors)
    if spec.kind == "set":
        return _set(spec, value, errors)
    raise AssertionError(spec.kind)  # pragma: no cover


def validate_case(inputs: tuple[InputSpec, ...], case) -> dict:
    """The case as the engine needs it: every input present, missing ones as Unknown.

    Raises CaseError naming every bad field at once.
    """
    if not isinstance(case, dict):
        raise CaseError([_err("(case)", f"a case is an object of input names to values, got {type(case).__name__}")])
    by_name = {s.name: s for s in inputs}
    errors: list[dict] = []
    for key in case:
        if key not in by_name:
            errors.append(_err(str(key), "unknown field", _did_you_mean(str(key), by_name).strip() or None))
    env = {}
    for spec in inputs:
        if spec.name in case:
            raw = case[spec.name]
            if raw is None:
                env[spec.name] = missing(spec.name)
                continue
            value = coerce(spec, raw, errors)
            env[spec.name] = value if value is not None else missing(spec.name)
        elif spec.has_default:
            env[spec.name] = spec.default
        else:
            env[spec.name] = missing(spec.name)
    if errors:
        raise CaseError(errors)
    return env


def validate_params(parameters: tuple[InputSpec, ...], params) -> dict:
    """Policy parameters: defaults, overridden by the given ones (strings from a command line are parsed)."""
    by_name = {s.name: s for s in parameters}
    errors: list[dict] = []
    out = {s.name: s.default for s in parameters}
    for key, raw in (params or {}).items():
        spec = by_name.get(key)
        if spec is None:
            errors.append(_err(str(key), "unknown parameter", _did_you_mean(str(key), by_name).strip() or None))
            continue
        if isinstance(raw, str) and spec.kind == "bool":
            raw = {"true": True, "false": False}.get(raw.lower(), raw)
        elif isinstance(raw, str) and spec.kind in ("int", "number"):
            try:
                raw = float(raw) if "." in raw else int(raw)
            except ValueError:
                pass
        elif isinstance(raw, str) and spec.kind == "set":
            raw = [x for x in raw.split(",") if x]
        value = coerce(spec, raw, errors)
        if value is not None:
            out[key] = value
    if errors:
        raise CaseError(errors)
    return out


def json_schema(guideline_id: str, inputs: tuple[InputSpec, ...]) -> dict:
    """A JSON Schema (2020-12) for a case: every input optional and nullable (missing = unknown)."""
    props = {}
    for s in inputs:
        if s.kind == "bool":
            t: dict = {"type": ["boolean", "null"]}
        elif s.kind in ("int", "number"):
            num: dict = {"type": "integer" if s.kind == "int" else "number"}
            if s.minimum is not None:
                num["minimum"] = s.minimum
            if s.maximum is not None:
                num["maximum"] = s.maximum
            if s.unit:
                t = {"oneOf": [num, {"type": "null"},
                               {"type": "string", "pattern": r"^\s*-?\d+(\.\d+)?\s*[A-Za-z%]+\s*$"},
                               {"type": "object", "required": ["value", "unit"],
                                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                                "additionalProperties": False}]}
            else:
                t = {"oneOf": [num, {"type": "null"}]}
        elif s.kind in ("enum", "option"):
            t = {"enum": list(s.values) + [None]}
        else:
            t = {"type": ["array", "null"], "items": {"enum": list(s.values)}, "uniqueItems": True}
        t["title"] = s.label
        if s.description:
            t["description"] = s.description
        if s.unit:
            t["x-unit"] = s.unit
        if s.has_default:
            d = s.default
            t["default"] = sorted(d) if isinstance(d, frozenset) else d
        props[s.name] = t
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:hgl:{guideline_id}:case",
        "title": f"A case for guideline {guideline_id}",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


_SLOW = object()
_ABSENT = object()


def _fast_check(spec: InputSpec):
    """A check for the common, already-canonical value of an input; _SLOW sends it to `coerce`."""
    lo, hi = spec.minimum, spec.maximum
    if spec.kind == "bool":
        return lambda v: v if type(v) is bool else _SLOW
    if spec.kind in ("int", "number"):
        lo = -1e308 if lo is None else lo
        hi = 1e308 if hi is None else hi
        kinds = (int,) if spec.kind == "int" else (int, float)
        # NaN and infinities fail the range test and get the slow path's precise error
        return lambda v: v if type(v) in kinds and lo <= v <= hi else _SLOW
    values = frozenset(spec.values)
    if spec.kind in ("enum", "option"):
        return lambda v: v if type(v) is str and v in values else _SLOW

    def check_set(v):
        if type(v) is list or type(v) is tuple:
            try:
                if values.issuperset(v):
                    return frozenset(v)
            except TypeError:  # an unhashable item: the slow path words the error
                pass
        return _SLOW
    return check_set


class Validator:
    """`validate_case` for one guideline, specialised once: the runtime's hot path.

    Values already in canonical form (a bool, a number in range, an allowed name, a list of
    allowed names) are taken as they are, by a function written for this guideline's inputs;
    anything else (units, errors) goes through `validate_case`, so both give the same answer.
    Input names enter that function only through `repr`, constants only through its namespace.
    """

    def __init__(self, inputs: tuple[InputSpec, ...]):
        self.inputs = inputs
        self.names = frozenset(s.name for s in inputs)
        self._fast = self._specialise(inputs)

    @staticmethod
    def _specialise(inputs):
        ns: dict = {"ABSENT": _ABSENT, "SLOW": _SLOW}
        lines = ["def fast(case):", "    get = case.get", "    env = {}"]
        for i, s in enumerate(inputs):
            ns[f"D{i}"] = s.default if s.has_default else missing(s.name)
            ns[f"U{i}"] = missing(s.name)
            key = repr(s.name)
            if s.kind == "bool":
                test, value = "type(v) is bool", "v"
            elif s.kind in ("int", "number"):
                ns[f"LO{i}"] = -1e308 if s.minimum is None else s.minimum
                ns[f"HI{i}"] = 1e308 if s.maximum is None else s.maximum
                kinds = "type(v) is int" if s.kind == "int" else "(type(v) is int or type(v) is float)"
                # NaN and infinities fail the range test and get the slow path's precise error
                test, value = f"{kinds} and LO{i} <= v <= HI{i}", "v"
            elif s.kind in ("enum", "option"):
                ns[f"V{i}"] = frozenset(s.values)
                test, value = f"type(v) is str and v in V{i}", "v"
            else:
                ns[f"C{i}"] = _fast_check(s)
                test, value = f"(w := C{i}(v)) is not SLOW", "w"
            lines += [f"    v = get({key}, ABSENT)",
                      "    if v is ABSENT:", f"        env[{key}] = D{i}",
                      "    elif v is None:", f"        env[{key}] = U{i}",
                      f"    elif {test}:", f"        env[{key}] = {value}",
                      "    else:", "        return None"]
        lines.append("    return env")
        exec(compile("\n".join(lines), "<hgl validator>", "exec"), ns)  # noqa: S102 - names via repr only
        return ns["fast"]

    def __call__(self, case) -> dict:
        if type(case) is not dict or not self.names.issuperset(case):
            return validate_case(self.inputs, case)
        env = self._fast(case)
        return env if env is not None else validate_case(self.inputs, case)
