"""The ``defense-bench`` command line: every sub-command, its options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchmark.budgets import BUDGETS
from benchmark.data import ENV_VAR
from benchmark.precision import PRECISION_ENV, PRECISIONS

DEFAULT_DEFENSES = "baseline,cutout,mixup,cutmix,stylized,shape-texture,prune-filters,prune-layers,prune-both"


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed takes integers separated by commas, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"--seed takes seeds ≥ 0, got {text!r}")
    return seeds


def _number(kind: type, least: float, strict: bool) -> Callable[[str], int | float]:
    """An argparse type: ``kind`` (int or float) above ``least`` (``strict``) or at least ``least``."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if v < least or (strict and v == least) or v != v:
            raise argparse.ArgumentTypeError(f"expected a number {'>' if strict else '≥'} {least:g}, got {text!r}")
        return v
    return parse


POSITIVE_INT, POSITIVE, NON_NEGATIVE = _number(int, 0, True), _number(float, 0, True), _number(float, 0, False)


def build_parser(commands: dict[str, Callable[[argparse.Namespace], int]]) -> argparse.ArgumentParser:
    """The argument parser; ``commands`` maps each sub-command to its function (``benchmark.cli``)."""
    p = argparse.ArgumentParser(prog="defense-bench", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (tracebacks of failed runs)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help=f"training/stylizing precision (default: ${PRECISION_ENV}, else the budget's: fp32 for "
                        "quick and paper, auto for smoke); another than the budget's keys runs to BUDGET-PRECISION, "
                        "never the published board")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train (or reuse), evaluate and write OUT/LEADERBOARD.md")
    r.add_argument("--budget", default="quick", choices=sorted(BUDGETS), help="training budget (default: quick)")
    r.add_argument("--defenses", default=DEFAULT_DEFENSES,
                   help=f"comma-separated defense specs (default: {DEFAULT_DEFENSES})")
    r.add_argument("--threats", default="paper", help="suites and threat specs, comma-separated (e.g. paper,eps-sweep)")
    r.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision download)")
    r.add_argument("--out", default="runs", help="output directory (default: runs/)")
    r.add_argument("--seed", type=_seeds, default=None, help="seed or seeds, e.g. 0 or 0,1,2 (default: budget's)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--records", default=None,
                   help="keep each finished run as DIR/<run>.json + .pt and resume from those found there "
                        "(the published run uses leaderboard/runs/<budget>)")
    r.add_argument("--commit", action="store_true", help="git-commit each record as soon as it is written")
    r.add_argument("--publish", action="store_true",
                   help="after each record, re-publish the board that holds DIR (DIR/../..: entries, LEADERBOARD.md)")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run jobs in this process (default) or as Ray tasks")
    r.add_argument("--address", default=None, help="Ray cluster to join (e.g. auto); default: start a local one")
    r.add_argument("--cpus-per-job", type=POSITIVE, default=1, help="Ray: CPUs per job (default 1)")
    r.add_argument("--gpus-per-job", type=NON_NEGATIVE, default=0, help="Ray: GPUs per job (default 0)")
    r.set_defaults(func=commands["run"])

    lb = sub.add_parser("leaderboard", help="re-render OUT/LEADERBOARD.md from the results store, or --publish "
                                            "the entries and LEADERBOARD.md of the published board")
    lb.add_argument("--out", default="runs")
    lb.add_argument("--publish", action="store_true",
                    help="export BOARD/entries/*.json from the run records, then render BOARD/LEADERBOARD.md from them")
    lb.add_argument("--render", action="store_true",
                    help="re-render BOARD/LEADERBOARD.md and its plots from BOARD/entries only (records untouched)")
    lb.add_argument("--check", action="store_true",
                    help="re-render BOARD/LEADERBOARD.md from BOARD/entries and exit 1 if the committed file differs")
    lb.add_argument("--board", default="leaderboard", help="the published board's directory (default: leaderboard)")
    lb.add_argument("--records", nargs="*", default=None,
                    help="record directories (default: BOARD/runs/* and BOARD/staging/*)")
    lb.set_defaults(func=commands["leaderboard"])

    sb = sub.add_parser("submit", help="train and evaluate a new defense under a budget and write its entry")
    sb.add_argument("defense", help="path/to/file.py:ClassName, or the name of an installed plug-in defense")
    sb.add_argument("--name", default=None, help="name on the board (default: the class's registered name)")
    sb.add_argument("--budget", default="quick", choices=sorted(BUDGETS))
    sb.add_argument("--seed", type=_seeds, default=None, help="seeds (default: the budget's)")
    sb.add_argument("--threats", default=None, help="threat suite or list (default: paper)")
    sb.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    sb.add_argument("--board", default=None,
                    help="board to add the entry to: a directory, or `published` for this checkout's leaderboard/ "
                         "(quick/paper budgets only); default: a scratch board OUT/board")
    sb.add_argument("--out", default="runs/submit", help="working directory of the run (default: runs/submit)")
    sb.add_argument("--no-progress", action="store_true")
    sb.set_defaults(func=commands["submit"])

    vf = sub.add_parser("verify", help="re-evaluate an entry's stored checkpoints: PASS/FAIL per threat")
    vf.add_argument("entry", nargs="+", help="leaderboard/entries/<entry>.json (several with --stored)")
    vf.add_argument("--stored", action="store_true",
                    help="no evaluation: rebuild each entry from its run records and compare every field (seconds)")
    vf.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    vf.add_argument("--tolerance", type=NON_NEGATIVE, default=0.2, help="allowed difference in points (default 0.2)")
    vf.add_argument("--no-progress", action="store_true")
    vf.set_defaults(func=commands["verify"])

    ev = sub.add_parser("evaluate", help="evaluate any classifier (FILE.py:factory or an architecture) under a suite")
    ev.add_argument("model", help="FILE.py:factory (returns an nn.Module taking [0, 1] NCHW images, giving 10 "
                                  "logits) or an architecture name (resnet20, resnet56, mobilenetv2)")
    ev.add_argument("--checkpoint", default=None, help="weights: a state dict or a defense-bench checkpoint "
                                                       "(read with weights_only=True)")
    ev.add_argument("--threats", default="paper", help="suites and threat specs, comma-separated (default: paper)")
    ev.add_argument("--n", type=POSITIVE_INT, default=None,
                    help="first N images of the seeded test permutation (default: all)")
    ev.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=commands["evaluate"])

    ls = sub.add_parser("list", help="registered defenses, threat models, suites and budgets")
    ls.set_defaults(func=commands["list"])

    sz = sub.add_parser("stylize", help="build (or load) the self-trained AdaIN stylizer, judge it, draw a grid")
    sz.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    sz.add_argument("--budget", default="quick", choices=sorted(BUDGETS), help="the budget whose recipe to use")
    sz.add_argument("--recipe", default=None, help="a stylizer recipe by name (overrides --budget)")
    sz.add_argument("--grid", default=None, help="write a PNG grid: content / style / α=1 / α=0.5 / reconstruction")
    sz.add_argument("--judge", default=None, help="a classifier checkpoint: its accuracy on stylized images")
    sz.add_argument("--n-images", type=POSITIVE_INT, default=2000,
                    help="test images for the measurements (default 2000)")
    sz.add_argument("--no-progress", action="store_true")
    sz.set_defaults(func=commands["stylize"])

    pf = sub.add_parser("perf", help="training throughput vs a conventional PIL + DataLoader pipeline")
    pf.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    pf.add_argument("--steps", type=POSITIVE_INT, default=30, help="timed steps per pipeline (default: 30)")
    pf.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    pf.set_defaults(func=commands["perf"])
    return p
