"""What defenses and threat models share: a frozen config dataclass and a label naming it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

# What a numeric config field may hold, by the words of its error message.
RULES = {
    "≥ 0": lambda v: v >= 0,
    "> 0": lambda v: v > 0,
    "in [0, 1]": lambda v: 0 <= v <= 1,
    "in (0, 1]": lambda v: 0 < v <= 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
}


def check_fields(config: Any, owner: str, **rules: str) -> None:
    """Raise a one-line ``ValueError`` for the first field of ``config`` outside its rule (a key of
    :data:`RULES`); ``None`` passes (it means "the default" or "all"). Call it from ``__post_init__``."""
    for field, rule in rules.items():
        v = getattr(config, field)
        values = v if isinstance(v, (tuple, list)) else (v,)
        for x in values:
            if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not RULES[rule](x)):
                raise ValueError(f"{owner}: {field} must be {rule}, got {v!r}")


@dataclass(frozen=True)
class NoConfig:
    """A component without parameters."""


class Configurable:
    """A registered component with a frozen ``Config`` dataclass; ``name`` is set by the registry."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name}: config must be {self.Config.__name__}, got {type(self.config).__name__}")

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    @property
    def label(self) -> str:
        """The name, with the parameters that differ from the defaults: ``prune-filters(criterion=l1)``."""
        default = dataclasses.asdict(self.Config())
        changed = [f"{k}={v}" for k, v in self.config_dict().items() if default.get(k) != v]
        return f"{self.name}({','.join(changed)})" if changed else self.name
