"""Built-in defenses; importing this package registers them."""

from defenses import baseline, cutmix, cutout, mixup, pruning, shape_texture, stylized  # noqa: F401
from defenses.base import Defense, ModelContext

__all__ = ["Defense", "ModelContext"]
