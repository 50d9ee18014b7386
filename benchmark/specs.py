"""Component specs on the command line: ``name`` or ``name(field=value,...)``, e.g. ``cutout(size=8)``.

Values are converted to the type of the config dataclass field they set; a spec never evaluates code.
"""

from __future__ import annotations

import dataclasses
import re
import typing

from benchmark.registry import Registry, RegistryError

_SPEC = re.compile(r"^\s*([\w.-]+)\s*(?:\((.*)\))?\s*$")


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of specs, keeping commas inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _convert(value: str, kind: object, where: str) -> object:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if args:  # Optional[X] / X | None
        if value.lower() == "none":
            return None
        kind = args[0] if len(args) == 1 else kind
    if kind in (bool, "bool"):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise RegistryError(f"{where}: expected true/false, got {value!r}")
    for t, name in ((int, "int"), (float, "float")):
        if kind in (t, name):
            try:
                return t(value)
            except ValueError:
                raise RegistryError(f"{where}: expected {name}, got {value!r}") from None
    return value


def build(registry: Registry, spec: str):
    """The component ``spec`` names, its config fields set from the spec's ``field=value`` pairs."""
    m = _SPEC.match(spec)
    if not m:
        raise RegistryError(f"malformed {registry.kind} spec {spec!r}; expected name or name(field=value,...)")
    cls = registry.get(m.group(1))
    if not m.group(2):
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    hints = typing.get_type_hints(cls.Config)
    values = {}
    for pair in split_specs(m.group(2)):
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or key not in fields:
            raise RegistryError(f"{spec!r}: unknown parameter {key!r}; {cls.name} takes: {', '.join(fields) or 'none'}")
        values[key] = _convert(value.strip(), hints.get(key), f"{spec!r} {key}")
    try:
        return cls(cls.Config(**values))
    except (TypeError, ValueError) as e:
        raise RegistryError(f"{spec!r}: {e}") from None
