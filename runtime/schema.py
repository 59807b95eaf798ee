"""Case validation against a compiled guideline's inputs, and their JSON Schema."""

from __future__ import annotations

import datetime
import difflib
import math
import re
import reprlib

from . import units
from .logic import Unknown, missing
from .model import InputSpec

_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%\[/][A-Za-z0-9%_.\[\]/]*)\s*$")

# Bounds on hostile input, checked before any other work on a value (site/pages/runtime.md, "Hardening"):
MAX_TEXT = 200  # characters in a text value, a field name or a set item: longer is refused, never suggested
MAX_INT = 2**53 - 1  # magnitude of a number: larger ones are refused (and could not convert exactly)

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdict = 6
_repr.maxlevel = 2


def show(value) -> str:
    """A value as echoed in an error message: its repr, cut short (a hostile value stays small)."""
    return _repr.repr(value)


def _name(key) -> str:
    """A field name as echoed in an error: cut at MAX_TEXT characters."""
    key = str(key) if not isinstance(key, str) else key
    return key if len(key) <= MAX_TEXT else key[:MAX_TEXT] + "…"


class CaseError(ValueError):
    """A case that is not a valid case; `errors` is a list of {field, message[, hint]}."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    def to_dict(self) -> dict:
        return {"error": "invalid_case", "fields": self.errors}


def suggest(word, choices) -> str | None:
    """The closest allowed name: a case-insensitive match, a unique prefix, else a near spelling."""
    if not isinstance(word, str) or len(word) > MAX_TEXT:  # no suggestion work on a hostile string
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
    if isinstance(value, str) and len(value) > MAX_TEXT:
        errors.append(_err(name, f"text longer than {MAX_TEXT} characters"))
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
            errors.append(_err(name, f"expected a number{_unit_words(spec)}, got {show(value)}"))
            return None
        value = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
        unit_given = m.group(2)
    elif not isinstance(value, (int, float)):
        errors.append(_err(name, f"expected a number{_unit_words(spec)}, got {type(value).__name__}"))
        return None
    if not _sane(name, value, errors):
        return None
    if unit_given is not None:
        if spec.unit is None:
            errors.append(_err(name, f"this input has no unit, but '{unit_given}' was given"))
            return None
        if spec.units is not None:  # UCUM units and analyte conversions: the compiler's table
            factor = spec.units.get(unit_given)
            if factor is None:
                errors.append(_err(name, f"'{unit_given}' is not a unit this input takes; it is in {spec.unit}",
                                   "units: " + ", ".join(spec.units)))
                return None
            value = value * factor if factor != 1 else value
        else:
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
        if not _sane(name, value, errors):  # 1e308 years is finite, but not in months
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


def _sane(name, value, errors) -> bool:
    """A number that is finite and not too large; else an error naming the field."""
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(_err(name, "expected a finite number"))
        return False
    if abs(value) > MAX_INT:
        errors.append(_err(name, f"number too large (at most {MAX_INT} in magnitude)"))
        return False
    return True


def _fmt(x):
    return str(int(x)) if float(x).is_integer() else str(x)


def _unit_words(spec):
    return f" in {spec.unit}" if spec.unit else ""


def _choice(spec: InputSpec, value, errors):
    if not isinstance(value, str):
        errors.append(_err(spec.name, f"expected one of {', '.join(spec.values)}, got {show(value)}"))
        return None
    if len(value) > MAX_TEXT:
        errors.append(_err(spec.name, f"text longer than {MAX_TEXT} characters", "allowed: " + ", ".join(spec.values)))
        return None
    if value not in spec.values:
        errors.append(_err(spec.name, f"'{value}' is not an allowed value",
                           _did_you_mean(value, spec.values) + "allowed: " + ", ".join(spec.values)))
        return None
    return value


def _set(spec: InputSpec, value, errors):
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        errors.append(_err(spec.name, f"expected a list of {', '.join(spec.values[:6])}…, got {show(value)}"))
        return None
    out = []
    for item in value:
        if isinstance(item, str) and len(item) > MAX_TEXT:
            errors.append(_err(spec.name, f"an item longer than {MAX_TEXT} characters",
                               "allowed: " + ", ".join(spec.values)))
            return None
        if not isinstance(item, str) or item not in spec.values:
            errors.append(_err(spec.name, f"{show(item)} is not an allowed value",
                               _did_you_mean(item, spec.values) + "allowed: " + ", ".join(spec.values)))
            return None
        out.append(item)
    return frozenset(out)


def coerce(spec: InputSpec, value, errors: list):
    """One value of an input, checked and converted to the declared unit; None when invalid."""
    if spec.kind == "bool":
        if not isinstance(value, bool):
            errors.append(_err(spec.name, f"expected true or false, got {show(value)}"))
            return None
        return value
    if spec.kind in ("int", "number"):
        return _number(spec, value, errors)
    if spec.kind in ("enum", "option"):
        return _choice(spec, value, errors)
    if spec.kind == "set":
        return _set(spec, value, errors)
    if spec.kind == "date":
        return _date(spec.name, value, errors)
    raise AssertionError(spec.kind)  # pragma: no cover


def _date(name: str, value, errors):
    """A date: `YYYY-MM-DD` text (a date object from Python callers)."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(_err(name, f"expected a date written YYYY-MM-DD, got {show(value)}"))
    return None


# The evaluation date: `today` in a guideline is this parameter (the clock's date when not given).
TODAY = "today"


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
            errors.append(_err(_name(key), "unknown field", _did_you_mean(str(key), by_name).strip() or None))
    env = {}
    for spec in inputs:
        if spec.name in case:
            raw = case[spec.name]
            if raw is None:
                env[spec.name] = absent_value(spec)
                continue
            value = coerce(spec, raw, errors)
            env[spec.name] = value if value is not None else absent_value(spec)
        elif spec.has_default:
            env[spec.name] = spec.default
        else:
            env[spec.name] = absent_value(spec)
    if errors:
        raise CaseError(errors)
    return env


def absent_value(spec: InputSpec):
    """A missing input's value: Unknown, bounded by the declared range for a number."""
    if spec.kind in ("int", "number"):
        return missing(spec.name, spec.minimum, spec.maximum)
    return missing(spec.name)


def validate_params(parameters: tuple[InputSpec, ...], params) -> dict:
    """Policy parameters: defaults, overridden by the given ones (strings from a command line are parsed)."""
    by_name = {s.name: s for s in parameters}
    errors: list[dict] = []
    out = {s.name: s.default for s in parameters}
    for key, raw in (params or {}).items():
        spec = by_name.get(key)
        if spec is None and key == TODAY:
            value = _date(TODAY, raw, errors)
            if value is not None:
                out[TODAY] = value
            continue
        if spec is None:
            errors.append(_err(_name(key), "unknown parameter", _did_you_mean(str(key), by_name).strip() or None))
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
                               {"type": "string", "pattern": _QUANTITY.pattern},
                               {"type": "object", "required": ["value", "unit"],
                                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                                "additionalProperties": False}]}
            else:
                t = {"oneOf": [num, {"type": "null"}]}
        elif s.kind in ("enum", "option"):
            t = {"enum": list(s.values) + [None]}
        elif s.kind == "date":
            t = {"type": ["string", "null"], "format": "date"}
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


_ABSENT = object()


class Validator:
    """`validate_case` for one guideline, specialised once: the runtime's hot path.

    Values already in canonical form (a bool, a number in range, an allowed name, a list of
    allowed names) are taken as they are, by a function written for this guideline's inputs;
    anything else (units, errors, an unknown field) goes through `validate_case`, so both give
    the same answer.  Input names, allowed names and bounds enter that function only through
    `repr`, other constants only through its namespace.
    """

    def __init__(self, inputs: tuple[InputSpec, ...]):
        self.inputs = inputs
        self.names = frozenset(s.name for s in inputs)
        self._fast = self._specialise(inputs)

    @staticmethod
    def _specialise(inputs):
        """fast(case) -> (env, every input known), or None for anything not canonical."""
        ns: dict = {"ABSENT": _ABSENT}
        tests = [_canonical(s, i, ns) for i, s in enumerate(inputs)]
        env = "{" + ", ".join(f"{s.name!r}: {_value(s, i)}" for i, s in enumerate(inputs)) + "}"
        # every input present (the complete cases the engine's fast path is for): one test, and the
        # case copied (cheaper than a new dict) with its lists made sets
        sets = [f"e[{s.name!r}] = s{i}" for i, s in enumerate(inputs) if s.kind == "set"]
        whole = [f"(type(v{i}) is list or type(v{i}) is tuple) and (s{i} := frozenset(v{i})) <= V{i}"
                 if s.kind == "set" else t for i, (s, t) in enumerate(zip(inputs, tests))]  # one set built, not two
        lines = ["def fast(case):", f"    if len(case) == {len(inputs)}:", "        try:"]
        lines += [f"            v{i} = case[{s.name!r}]" for i, s in enumerate(inputs)] or ["            pass"]
        lines += ["        except KeyError:  # a field that is not an input: the path below sends it on",
                  "            pass", "        else:", "            try:",
                  "                if " + " and ".join(f"({t})" for t in whole) + ":" if tests else "                if True:",
                  "                    e = case.copy()"] + ["                    " + x for x in sets] + [
                  "                    return e, True",
                  "            except TypeError:  # an unhashable value: the path below sends it on",
                  "                pass"]
        # some inputs absent or null, or a value to convert: input by input
        lines += ["    get = case.get", "    absent = 0", "    known = True"]
        for i, s in enumerate(inputs):
            ns[f"D{i}"] = s.default if s.has_default else absent_value(s)
            ns[f"U{i}"] = absent_value(s)
            v = f"v{i}"
            lines.append(f"    {v} = get({s.name!r}, ABSENT)")
            if s.kind == "set":
                lines += [f"    if type({v}) is list or type({v}) is tuple:", "        try:",
                          f"            ok = {tests[i].split(' and ', 1)[1]}",
                          "        except TypeError:  # an unhashable item: the slow path words the error",
                          "            return None", "        if not ok:", "            return None",
                          f"        {v} = frozenset({v})", "    else:"]
            elif s.kind in ("enum", "option"):
                lines.append(f"    if not (type({v}) is str and {tests[i]}):")
            else:
                lines.append(f"    if not ({tests[i]}):")
            absent = [f"{v} = D{i}", "absent += 1"] + ([] if s.has_default else ["known = False"])
            lines += [f"        if {v} is ABSENT:"] + ["            " + x for x in absent]
            lines += [f"        elif {v} is None:", f"            {v} = U{i}", "            known = False",
                      "        else:", "            return None"]
        # a field that is not an input: the slow path names it (with "did you mean")
        lines += [f"    if len(case) + absent != {len(inputs)}:", "        return None",
                  f"    return {env.replace('frozenset(', '(')}, known"]
        exec(compile("\n".join(lines), "<hgl validator>", "exec"), ns)  # noqa: S102 - names via repr only
        return ns["fast"]

    def __call__(self, case) -> dict:
        return self.with_known(case)[0]

    def with_known(self, case) -> tuple[dict, bool]:
        """(the validated case, whether every input has a value); raises CaseError."""
        if type(case) is dict:
            out = self._fast(case)
            if out is not None:
                return out
        env = validate_case(self.inputs, case)
        return env, not any(type(v) is Unknown for v in env.values())


def _literal(x, name, ns) -> str:
    """A finite number as a literal (through repr), anything else through the namespace."""
    if type(x) in (int, float) and math.isfinite(x):
        return repr(x)
    ns[name] = x
    return name


def _canonical(s: InputSpec, i: int, ns: dict) -> str:
    """The test that value v<i> of input s is already in canonical form (may raise TypeError)."""
    v = f"v{i}"
    if s.kind == "bool":
        return f"{v} is True or {v} is False"
    if s.kind in ("int", "number"):
        # NaN, infinities and numbers beyond MAX_INT fail the range test and get the slow path's error
        lo = _literal(-MAX_INT if s.minimum is None else max(s.minimum, -MAX_INT), f"LO{i}", ns)
        hi = _literal(MAX_INT if s.maximum is None else min(s.maximum, MAX_INT), f"HI{i}", ns)
        test = f"type({v}) is int" if s.kind == "int" else f"(type({v}) is float or type({v}) is int)"
        return f"{test} and {lo} <= {v} <= {hi}"
    if s.kind in ("enum", "option"):
        return f"{v} in {{{', '.join(repr(x) for x in s.values)}}}" if s.values else "False"
    if s.kind == "date":  # text to convert: the slow path
        return "False"
    ns[f"V{i}"] = frozenset(s.values)
    return f"(type({v}) is list or type({v}) is tuple) and V{i}.issuperset({v})"


def _value(s: InputSpec, i: int) -> str:
    return f"frozenset(v{i})" if s.kind == "set" else f"v{i}"
