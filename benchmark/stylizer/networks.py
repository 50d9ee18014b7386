"""The stylizer's networks: the small CIFAR encoder and decoder trained here, and the AdaIN authors'
VGG-19 encoder (to relu4_1) and decoder as released with naoto0804/pytorch-AdaIN."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models import Normalize


def _conv(cin: int, cout: int, bn: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=not bn)] + ([nn.BatchNorm2d(cout)] if bn else [])
    return nn.Sequential(*layers, nn.ReLU(inplace=True))


class CifarEncoder(nn.Module):
    """VGG-style CIFAR-10 classifier whose first layers are the stylizer's encoder.

    ``features(x)`` returns relu1_1 (32×32×32), relu1_2 (64×32×32) and relu2_1 (128×16×16); AdaIN acts on
    the last. ``forward`` adds a classification head, used only to train the encoder.
    """

    def __init__(self):
        super().__init__()
        self.norm = Normalize()
        self.layers = nn.ModuleList([_conv(3, 32), _conv(32, 64), nn.Sequential(nn.MaxPool2d(2), _conv(64, 128))])
        self.head = nn.Sequential(nn.MaxPool2d(2), _conv(128, 256), nn.MaxPool2d(2), _conv(256, 256),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], self.norm(x)
        for layer in self.layers:
            h = layer(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])


class CifarDecoder(nn.Module):
    """Mirror of the encoder to relu2_1: 128×16×16 features → 3×32×32 image (no normalisation layers,
    nearest-neighbour upsampling and reflection padding as AdaIN's decoder)."""

    def __init__(self):
        super().__init__()

        def conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
            return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)] + ([nn.ReLU(inplace=True)] if relu else [])

        self.net = nn.Sequential(*conv(128, 64), *conv(64, 64), nn.Upsample(scale_factor=2, mode="nearest"),
                                 *conv(64, 32), *conv(32, 32), *conv(32, 3, relu=False))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


def _vgg_normalised() -> nn.Sequential:
    """The AdaIN authors' VGG-19 (to relu4_1), layer for layer as their released ``vgg_normalised.pth``."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    for cin, cout, pool in ((3, 64, False), (64, 64, True), (64, 128, False), (128, 128, True), (128, 256, False),
                            (256, 256, False), (256, 256, False), (256, 256, True), (256, 512, False)):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
    return nn.Sequential(*layers)


def _adain_decoder() -> nn.Sequential:
    """The AdaIN authors' decoder, layer for layer as their released ``decoder.pth``."""
    layers: list[nn.Module] = []
    for cin, cout, up in ((512, 256, True), (256, 256, False), (256, 256, False), (256, 256, False),
                          (256, 128, True), (128, 128, False), (128, 64, True), (64, 64, False)):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]
        if up:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    return nn.Sequential(*layers, nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3))


class _VggFeatures(nn.Module):
    """relu1_1, relu2_1, relu3_1, relu4_1 of the AdaIN VGG-19 (the style layers of the paper)."""

    CUTS = (4, 11, 18, 31)

    def __init__(self, vgg: nn.Sequential):
        super().__init__()
        self.vgg = vgg

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for cut in self.CUTS:
            x = self.vgg[start:cut](x)
            out.append(x)
            start = cut
        return out
