"""Training throughput of the benchmark's trainer against the pipeline most papers' train.py use.

Conventional pipeline: a torchvision-style Dataset of PIL images, RandomCrop(32, 4) + RandomHorizontalFlip
+ ToTensor + Normalize, a DataLoader with 2 workers, fp32, batch 128. Ours: uint8 tensors in memory,
batched augmentation, bf16 autocast + channels_last where the CPU has bf16, the quick budget's batch.
Both train the same ResNet-20 with the same optimiser; the target is a ratio ≥ 4.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
import torch.nn.functional as F

from benchmark.budgets import get_budget
from benchmark.data import MEAN, STD, load_cifar10
from benchmark.models import build_model
from benchmark.precision import Precision
from benchmark.trainer import train
from defenses.baseline import Baseline


class PILDataset(torch.utils.data.Dataset):
    """CIFAR-10 as PIL images with per-image transforms, as torchvision.datasets.CIFAR10 serves it."""

    def __init__(self, x_nhwc, y, transform):
        self.x, self.y, self.transform = x_nhwc, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def conventional_img_per_s(x_nchw: torch.Tensor, y: torch.Tensor, steps: int, batch: int = 128) -> float:
    import torchvision.transforms as T

    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = PILDataset(x_nchw.permute(0, 2, 3, 1).numpy(), y.numpy(), tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=2, drop_last=True,
                                         persistent_workers=False)
    torch.manual_seed(0)
    model = build_model("resnet20").train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    warm, seen, t0 = 3, 0, 0.0
    for i, (xb, yb) in enumerate(loader):
        if i == warm:
            t0, seen = time.perf_counter(), 0
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(yb)
        if i == warm + steps - 1:
            break
    return seen / (time.perf_counter() - t0)


def trainer_img_per_s(x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, str]:
    budget = get_budget("quick")
    precision = Precision.auto()
    torch.manual_seed(0)
    model = build_model("resnet20")
    n = steps * budget.batch_size
    warm = dataclasses.replace(budget, epochs=1)
    train(model, x[: 3 * budget.batch_size], y[: 3 * budget.batch_size], Baseline(), warm, 0,
          precision=precision, progress=False)
    rep = train(model, x[:n], y[:n], Baseline(), warm, 0, precision=precision, progress=False)
    return rep.images / rep.seconds, rep.precision


def main(args: argparse.Namespace) -> int:
    data = load_cifar10(args.data)
    steps = args.steps
    print(f"timing {steps} steps each on {torch.get_num_threads()} threads ...", flush=True)
    ours, prec = trainer_img_per_s(data.x_train, data.y_train, steps)
    print(f"trainer ({prec}, batch {get_budget('quick').batch_size}): {ours:8.1f} img/s", flush=True)
    conv = conventional_img_per_s(data.x_train, data.y_train, steps)
    print(f"conventional (PIL + DataLoader(2 workers), fp32, batch 128): {conv:8.1f} img/s")
    ratio = ours / conv
    print(f"ratio: {ratio:.2f}x (target >= 4)")
    if args.json:
        print(json.dumps({"train_img_per_s": round(ours, 1), "conventional_img_per_s": round(conv, 1),
                          "ratio": round(ratio, 2), "precision": prec, "threads": torch.get_num_threads()}))
    return 0
