"""Built-in defenses; importing this package registers them."""

from defenses import (  # noqa: F401
    albumentations_pipeline,
    baseline,
    cutmix,
    cutout,
    finetune_only,
    mixup,
    pruning,
    shape_texture,
    stylized,
)
from defenses.base import Defense, ModelContext

__all__ = ["Defense", "ModelContext"]
