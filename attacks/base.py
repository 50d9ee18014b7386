"""The ``ThreatModel`` interface: a model and a clean batch in [0, 1] → the perturbed batch.

The evaluator puts the model in eval mode, calls :meth:`ThreatModel.perturb` in fp32 and scores the
returned batch; a threat never sees normalised tensors (models normalise inside themselves).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class NoConfig:
    """A threat model without parameters."""


class ThreatModel(abc.ABC):
    """A registered threat. Subclasses set ``paper``, optionally ``Config``, and implement ``perturb``.

    ``needs_gradients`` tells the evaluator whether ``perturb`` back-propagates through the model.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    needs_gradients: ClassVar[bool] = False

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()

    @abc.abstractmethod
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The perturbed batch, same shape as ``x``, values in [0, 1]."""

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
