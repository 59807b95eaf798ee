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
        close = difflib.get_close_matches(value, spec.values, n=1)
        errors.append(_err(spec.name, f"'{value}' is not an allowed value",
                           (f"did you mean '{close[0]}'? " if close else "") + "allowed: " + ", ".join(spec.values)))
        return None
    return value


def _set(spec: InputSpec, value, errors):
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        errors.append(_err(spec.name, f"expected a list of {', '.join(spec.values[:6])}…, got {value!r}"))
        return None
    out = []
    for item in value:
        if not isinstance(item, str) or item not in spec.values:
            close = difflib.get_close_matches(item, spec.values, n=1) if isinstance(item, str) else []
            errors.append(_err(spec.name, f"{item!r} is not an allowed value",
                               (f"did you mean '{close[0]}'? " if close else "") + "allowed: " + ", ".join(spec.values)))
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
            close = difflib.get_close_matches(str(key), list(by_name), n=1)
            errors.append(_err(str(key), "unknown field", f"did you mean '{close[0]}'?" if close else None))
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
            close = difflib.get_close_matches(str(key), list(by_name), n=1)
            errors.append(_err(str(key), "unknown parameter", f"did you mean '{close[0]}'?" if close else None))
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
