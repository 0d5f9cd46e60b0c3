"""A tiny field table for config validation: one description per key drives both the checks (with every
problem collected, named by its key path and allowed range) and the JSON Schema."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # int | number | str | bool | enum | object | auto_number ('auto' or a number)
    default: Any
    required: bool = False
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[str, ...] = ()
    fields: list["Field"] | None = None
    doc: str = ""

    def allowed(self) -> str:
        if self.kind == "enum":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "object":
            text = "a mapping"
        else:
            base = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false",
                    "auto_number": "'auto' or a number"}[self.kind]
            bounds = []
            if self.minimum is not None:
                bounds.append(f">= {self.minimum}")
            if self.exclusive_minimum is not None:
                bounds.append(f"> {self.exclusive_minimum}")
            if self.maximum is not None:
                bounds.append(f"<= {self.maximum}")
            text = base + (" " + " and ".join(bounds) if bounds else "")
        return text + (" or null" if self.nullable else "")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def _check_value(f: Field, value: Any, path: str, problems: list[str]) -> Any:
    if value is None:
        if f.nullable:
            return None
        problems.append(f"{path}: must be {f.allowed()}, got null")
        return f.default
    if f.kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a mapping, got {type(value).__name__}")
            return None
        return check_fields(value, f.fields or [], path + ".", problems)
    ok = {
        "int": _is_int(value),
        "number": _is_number(value),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "enum": isinstance(value, str) and value in f.choices,
        "auto_number": value == "auto" or _is_number(value),
    }[f.kind]
    if ok and _is_number(value) and f.kind in ("int", "number", "auto_number"):
        if f.minimum is not None and value < f.minimum:
            ok = False
        if f.exclusive_minimum is not None and value <= f.exclusive_minimum:
            ok = False
        if f.maximum is not None and value > f.maximum:
            ok = False
    if not ok:
        problems.append(f"{path}: must be {f.allowed()}, got {value!r}")
        return f.default
    return float(value) if f.kind == "number" else value


def check_fields(raw: dict[str, Any], fields: list[Field], prefix: str, problems: list[str]) -> dict[str, Any]:
    known = {f.name: f for f in fields}
    for key in raw:
        if key not in known:
            problems.append(f"{prefix}{key}: unknown key (known: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for f in fields:
        path = prefix + f.name
        if f.name not in raw:
            if f.required:
                problems.append(f"{path}: required ({f.allowed()})")
            out[f.name] = f.default
            continue
        out[f.name] = _check_value(f, raw[f.name], path, problems)
    return out


def field_schema(f: Field) -> dict[str, Any]:
    if f.kind == "object":
        schema: dict[str, Any] = object_schema(f.fields or [])
    elif f.kind == "enum":
        schema = {"type": "string", "enum": list(f.choices)}
    elif f.kind == "auto_number":
        schema = {"oneOf": [{"const": "auto"}, {"type": "number"}]}
    else:
        schema = {"type": {"int": "integer", "number": "number", "str": "string", "bool": "boolean"}[f.kind]}
    target = schema["oneOf"][1] if f.kind == "auto_number" else schema
    if f.minimum is not None:
        target["minimum"] = f.minimum
    if f.maximum is not None:
        target["maximum"] = f.maximum
    if f.exclusive_minimum is not None:
        target["exclusiveMinimum"] = f.exclusive_minimum
    if f.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if f.default is not None and f.kind != "object":
        schema["default"] = f.default
    if f.doc:
        schema["description"] = f.doc
    return schema


def object_schema(fields: list[Field]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in fields if f.required],
        "properties": {f.name: field_schema(f) for f in fields},
    }
