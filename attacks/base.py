"""The ``ThreatModel`` interface: a model and a clean batch in [0, 1] → the perturbed batch.

The evaluator puts the model in eval mode, calls :meth:`ThreatModel.perturb` in fp32 and scores the
returned batch; a threat never sees normalised tensors (models normalise inside themselves).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch
from torch import nn

from benchmark.component import Configurable


class ThreatModel(Configurable, abc.ABC):
    """A registered threat. Subclasses set ``paper``, optionally ``Config``, and implement ``perturb``.

    ``needs_gradients`` tells the evaluator whether ``perturb`` back-propagates through the model.
    """

    needs_gradients: ClassVar[bool] = False

    @abc.abstractmethod
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The perturbed batch, same shape as ``x``, values in [0, 1]."""
