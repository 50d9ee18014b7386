"""AdaIN style transfer on batched tensors: the stylizer of the Stylized and Shape-Texture defenses and of
the shape-bias threat.

AdaIN (Huang & Belongie 2017, arXiv:1703.06868): encoder → AdaIN(content, style, α) → decoder, where
AdaIN(c, s) = σ(s)·(c − μ(c))/σ(c) + μ(s) per channel and α blends with the content features.

Two ways to obtain one:

1. ``load_pretrained(dir, vgg_sha256, decoder_sha256)``: the authors' VGG-19 encoder (to relu4_1,
   ``vgg_normalised.pth``) and decoder (``decoder.pth``) as released with naoto0804/pytorch-AdaIN, each
   file checked against the SHA-256 the user states (they are recorded with every entry).
2. ``self_trained(recipe, x_train, y_train)``: built here from the training images, for machines
   without internet. The encoder is a small VGG-style network trained for CIFAR-10 classification and
   then frozen; the decoder is trained with AdaIN's content loss (decoded stylization re-encoded vs the
   AdaIN target) and style loss (feature mean and std at every encoder layer), plus a pixel
   reconstruction loss on decoder(encoder(x)) as the decoders of Li et al. 2017 (*Universal Style
   Transfer via Feature Transforms*, arXiv:1705.08086) are trained: without it a decoder on a weak
   encoder decodes smears. AdaIN is applied at 16×16 features (128 channels). The result is cached on
   disk keyed by recipe and data, so every run reuses one stylizer.

Not a library: no maintained package offers AdaIN with trainable CIFAR-sized encoders, so the few
layers are written here.

The package: :mod:`~benchmark.stylizer.adain` (the AdaIN math, the :class:`Stylizer` module, style draws),
:mod:`~benchmark.stylizer.networks`, :mod:`~benchmark.stylizer.pretrained` (SHA-checked loader),
:mod:`~benchmark.stylizer.training` (recipes, training, cache), :mod:`~benchmark.stylizer.quality`.
"""

from benchmark.stylizer.adain import EPS, Stylizer, StylizerError, adain, mean_std, other_class_indices, psnr
from benchmark.stylizer.networks import CifarDecoder, CifarEncoder
from benchmark.stylizer.pretrained import load_pretrained, sha256_file
from benchmark.stylizer.quality import quality, save_grid
from benchmark.stylizer.training import (
    PUBLISHED_DIR,
    RECIPES,
    StylizerRecipe,
    cache_path,
    data_fingerprint,
    find_cached,
    load_cached,
    recipe_for_budget,
    self_trained,
    style_loss,
)

__all__ = ["EPS", "PUBLISHED_DIR", "RECIPES", "CifarDecoder", "CifarEncoder", "Stylizer", "StylizerError",
           "StylizerRecipe", "adain", "cache_path", "data_fingerprint", "find_cached", "load_cached",
           "load_pretrained", "mean_std", "other_class_indices", "psnr", "quality", "recipe_for_budget",
           "save_grid", "self_trained", "sha256_file", "style_loss"]
