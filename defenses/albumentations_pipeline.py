"""A defense made of any albumentations pipeline (Buslaev et al. 2020, *Albumentations: Fast and Flexible
Image Augmentations*, Information 11(2):125, arXiv:1809.06839), applied per image to the training images.

The pipeline is given as a YAML or JSON file written by ``albumentations.save`` (or by hand in its format)
and is stored in the run's config as albumentations' own ``to_dict`` form, so an entry's JSON alone rebuilds
it (``albumentations.from_dict(entry["defense_config"]["pipeline"])``) and editing the file changes the
config hash. The trainer's random crop and flip run first, as for every defense; the pipeline sees those
uint8 HWC images (exactly: the trainer's float batch is the uint8 images / 255).

Determinism: the batch is cut into chunks of :data:`CHUNK` images; each chunk is transformed by a worker's
own copy of the pipeline seeded from the training generator and the chunk's index, so the images do not
depend on the number of worker threads. The workers are threads (OpenCV releases the GIL); they overlap
with each other, not with the training step, which on a 2-core CPU already uses both cores.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch

from benchmark.registry import register_defense
from defenses.base import Defense

CHUNK = 32  # images per seeded chunk
EXAMPLE = Path(__file__).resolve().parent / "pipelines" / "randaugment-lite.yaml"
PAPER = "Buslaev et al. 2020, Albumentations: Fast and Flexible Image Augmentations, arXiv:1809.06839"


def load_pipeline(source: str | Path | dict) -> dict:
    """A pipeline file (``.yaml``/``.yml``/``.json``) or its dict → albumentations' ``to_dict`` form, checked
    by building it. Errors are one line naming the file."""
    where = str(source) if not isinstance(source, dict) else "pipeline"
    try:
        if isinstance(source, dict):
            transform = A.from_dict(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise ValueError(f"{path}: no such pipeline file")
            fmt = "json" if path.suffix == ".json" else "yaml"
            transform = A.load(str(path), data_format=fmt)
        return A.to_dict(transform)
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}: not an albumentations pipeline ({str(e).splitlines()[0][:200]})") from None
    except Exception as e:  # yaml errors, unknown transform names, bad arguments: one line
        raise ValueError(f"{where}: not an albumentations pipeline ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None


def pipeline_id(pipeline: dict) -> str:
    """Eight hex digits naming a pipeline by its content (its label on the board)."""
    return hashlib.sha256(json.dumps(pipeline, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class AlbumentationsConfig:
    # A pipeline file's path, or albumentations' dict of it; stored as the dict (see the module doc).
    # Default: the shipped example, a RandAugment-style recipe (defenses/pipelines/randaugment-lite.yaml).
    pipeline: Any = str(EXAMPLE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pipeline", load_pipeline(self.pipeline))  # canonical form, once


@register_defense("albumentations")
class AlbumentationsPipeline(Defense):
    """Any albumentations pipeline, per image on the uint8 HWC training images (module doc).

    Cite the pipeline's own recipe with the entry; the shipped example follows RandAugment (Cubuk et al.
    2020, arXiv:1909.13719: two of a list of operations per image) with albumentations' transforms only.
    """

    paper = PAPER
    Config = AlbumentationsConfig

    def __init__(self, config: AlbumentationsConfig | None = None, workers: int | None = None):
        super().__init__(config)
        self._workers = workers or max(1, torch.get_num_threads())
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def label(self) -> str:
        if self.config.pipeline == self.Config().pipeline:  # this class's own pipeline: its name says it
            return self.name
        return f"{self.name}(pipeline={pipeline_id(self.config.pipeline)})"

    def _transform(self):
        t = getattr(self._local, "transform", None)
        if t is None:
            t = self._local.transform = A.from_dict(copy.deepcopy(self.config.pipeline))
        return t

    def _chunk(self, images: np.ndarray, seed: int) -> np.ndarray:
        t = self._transform()
        t.set_random_seed(seed)
        out = [t(image=im)["image"] for im in images]
        for o in out:
            if o.shape != images.shape[1:] or o.dtype != np.uint8:
                raise ValueError(f"albumentations pipeline returned an image of shape {o.shape} and dtype {o.dtype}; "
                                 f"it must keep {images.shape[1:]} uint8 (add a Resize or PadIfNeeded + Crop)")
        return np.stack(out)

    def transform_batch(self, x, y, generator):
        images = (x.detach().float().mul(255).round().clamp(0, 255).to(torch.uint8)
                  .permute(0, 2, 3, 1).contiguous().cpu().numpy())
        base = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        chunks = [(images[i:i + CHUNK], (base + k) % 2**32) for k, i in enumerate(range(0, len(images), CHUNK))]
        if self._workers > 1 and len(chunks) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="albumentations")
            parts = list(self._pool.map(lambda c: self._chunk(*c), chunks))
        else:
            parts = [self._chunk(*c) for c in chunks]
        out = torch.from_numpy(np.concatenate(parts)).permute(0, 3, 1, 2).to(x.device)
        out = out.float().div(255).contiguous(memory_format=torch.channels_last if x.is_contiguous(
            memory_format=torch.channels_last) else torch.contiguous_format)
        return out, y

    @classmethod
    def from_file(cls, path: str | Path) -> type[AlbumentationsPipeline]:
        """A subclass whose default pipeline is the file ``path`` (``submit PATH.yaml``), named after its stem."""
        pipeline = load_pipeline(path)
        config = dataclasses.make_dataclass(
            "AlbumentationsFileConfig", [("pipeline", Any, dataclasses.field(default_factory=lambda: pipeline))],
            bases=(AlbumentationsConfig,), frozen=True)
        doc = f"The albumentations pipeline of {Path(path).name} (see :class:`AlbumentationsPipeline`)."
        return type(Path(path).stem, (cls,), {"Config": config, "__doc__": doc, "__module__": cls.__module__})

    def __getstate__(self) -> dict:  # picklable for Ray workers: no pool, no thread-local transforms
        state = self.__dict__.copy()
        state["_pool"], state["_local"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
