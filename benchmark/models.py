"""CIFAR networks: ResNet-20/56 (He et al. 2016) and MobileNetV2 (Sandler et al. 2018), 10 classes.

Every model takes images in [0, 1] and normalises inside itself (RobustBench convention), so attacks
only ever see [0, 1] tensors. Each model also says what pruning may touch (``prunable_layers`` and
``removable_blocks``), so pruning asks the model rather than hard-coding layer names.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from benchmark.data import MEAN, NUM_CLASSES, STD


class Normalize(nn.Module):
    """(x - mean) / std with the CIFAR-10 training statistics as buffers."""

    def __init__(self, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, 0, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual; a 1×1 projection where the shape changes (option B)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

    @property
    def has_identity_shortcut(self) -> bool:
        return len(self.shortcut) == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class PrunableNet(nn.Module):
    """What pruning may touch, asked of the network rather than hard-coded by layer names.

    In every block, ``conv1`` (followed by ``bn1`` and a ReLU) is the prunable convolution, as in the
    authors' code: the first convolution of a residual block, the 1×1 expansion of an inverted residual,
    so residual additions keep their widths. Subclasses give ``stages()``.
    """

    def stages(self) -> list[nn.Sequential]:
        raise NotImplementedError

    def blocks(self) -> list[tuple[int, int, nn.Module]]:
        """(stage, index, block) of every block still present (removed blocks are identities)."""
        return [(i, j, b) for i, stage in enumerate(self.stages()) for j, b in enumerate(stage)
                if not isinstance(b, nn.Identity)]

    def prunable_layers(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """(conv, its batch norm) of every block's prunable convolution."""
        return [(b.conv1, b.bn1) for _, _, b in self.blocks()]

    def removable_blocks(self) -> list[tuple[int, int]]:
        """(stage, index) of blocks whose input and output shapes match (identity shortcut)."""
        return [(i, j) for i, j, b in self.blocks() if b.has_identity_shortcut]


class CifarResNet(PrunableNet):
    """ResNet-(6n+2) for 32×32 inputs: 16-32-64 channels, n blocks per stage (He et al. 2016, §4.2).

    ``depth=20`` gives ResNet-20 (0.27 M parameters), ``depth=56`` ResNet-56 (0.86 M).
    """

    def __init__(self, depth: int = 20, num_classes: int = NUM_CLASSES, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.normalize = Normalize()
        self.conv1, self.bn1 = conv3x3(3, widths[0]), nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks = [BasicBlock(cin if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = w
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expansion → 3×3 depthwise → 1×1 linear projection."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        self.stride = stride
        self.conv1, self.bn1 = conv1x1(cin, hidden), nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3, self.bn3 = conv1x1(hidden, cout), nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout), nn.BatchNorm2d(cout))

    @property
    def has_identity_shortcut(self) -> bool:
        return self.stride == 1 and len(self.shortcut) == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


# (expansion, out channels, blocks, first stride); stage 2 stride 1 for 32×32 inputs (kuangliu/pytorch-cifar).
MOBILENETV2_CFG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                   (6, 320, 1, 1))


class CifarMobileNetV2(PrunableNet):
    """MobileNetV2 for CIFAR (Sandler et al. 2018, arXiv:1801.04381): stride-1 stem, 2.3 M parameters."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.normalize = Normalize()
        self.conv1, self.bn1 = conv3x3(3, 32), nn.BatchNorm2d(32)
        stages, cin = [], 32
        for t, c, n, s in MOBILENETV2_CFG:
            stages.append(nn.Sequential(*[InvertedResidual(cin if j == 0 else c, c, t, s if j == 0 else 1)
                                          for j in range(n)]))
            cin = c
        self.layers = nn.Sequential(*stages)
        self.conv2, self.bn2 = conv1x1(320, 1280), nn.BatchNorm2d(1280)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, num_classes)

    def stages(self) -> list[nn.Sequential]:
        return list(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layers(x)
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "resnet8": lambda: CifarResNet(8),  # one block per stage: for tests and quick checks, on no budget
    "resnet20": lambda: CifarResNet(20),
    "resnet56": lambda: CifarResNet(56),
    "mobilenetv2": CifarMobileNetV2,
}


def build_model(name: str) -> nn.Module:
    """A freshly initialised network by name; an unknown name lists the valid ones."""
    if name not in MODELS:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name]()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 32, 32)) -> int:
    """Forward FLOPs of one image, counted by ``torch.utils.flop_counter`` (a multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    p = next(model.parameters())
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(input_size, device=p.device, dtype=p.dtype))
    model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def cpu_latency_ms(model: nn.Module, repeats: int = 30) -> float:
    """Fastest of ``repeats`` CPU inference times of one 32×32 image (batch 1, fp32, eval mode), in
    milliseconds: another process on the machine only ever adds time, so the minimum is the least disturbed
    estimate (as ``timeit`` advises); the median read 672 ms for a 2 ms network while tests shared the cores."""
    import copy
    import time

    m = copy.deepcopy(model).float().cpu().eval()
    x = torch.rand(1, 3, 32, 32)
    for _ in range(5):
        m(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m(x)
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def remove_block(model: nn.Module, stage: int, index: int) -> None:
    """Replace block ``index`` of ``stage`` by an identity (the block must have an identity shortcut)."""
    block = model.stages()[stage][index]
    if not getattr(block, "has_identity_shortcut", False):
        raise ValueError(f"block ({stage}, {index}) has no identity shortcut and cannot be removed")
    model.stages()[stage][index] = nn.Identity()


def conform_to_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Reshape a freshly built ``model`` so ``state`` (from a pruned network) loads into it.

    Pruned checkpoints hold only tensors (``weights_only`` loading executes no code), so the pruned
    architecture is rebuilt from them: blocks absent from ``state`` become identities, and every
    convolution, batch norm and linear layer takes the channel counts of its stored weights.
    """
    for stage in model.stages():
        for j, block in enumerate(stage):
            prefix = _prefix_of(model, block)
            if not any(k.startswith(prefix) for k in state):
                stage[j] = nn.Identity()
    for name, module in list(model.named_modules()):
        w = state.get(f"{name}.weight")
        if w is None:
            continue
        if isinstance(module, nn.Conv2d) and w.shape != module.weight.shape:
            depthwise = module.groups > 1 and module.groups == module.in_channels
            cin = w.shape[0] if depthwise else w.shape[1] * module.groups
            new = nn.Conv2d(cin, w.shape[0], module.kernel_size, module.stride, module.padding,
                            groups=w.shape[0] if depthwise else module.groups, bias=module.bias is not None)
            _set_module(model, name, new)
        elif isinstance(module, nn.BatchNorm2d) and w.shape[0] != module.num_features:
            _set_module(model, name, nn.BatchNorm2d(w.shape[0]))
        elif isinstance(module, nn.Linear) and w.shape != module.weight.shape:
            _set_module(model, name, nn.Linear(w.shape[1], w.shape[0], bias=module.bias is not None))
    return model


def _prefix_of(model: nn.Module, target: nn.Module) -> str:
    for name, module in model.named_modules():
        if module is target:
            return name + "."
    raise KeyError("module not found in model")


def _set_module(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
