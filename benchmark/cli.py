"""The ``defense-bench`` command: run the grid, re-render the leaderboard, list components, measure speed."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark.budgets import BUDGETS, get_budget
from benchmark.checkpoint import CheckpointError
from benchmark.data import ENV_VAR, DataError
from benchmark.registry import DEFENSES, THREAT_MODELS, RegistryError

DEFAULT_DEFENSES = "baseline,cutout,mixup,cutmix,prune-filters,prune-layers,prune-both"
EXPECTED_ERRORS = (DataError, RegistryError, CheckpointError, ValueError, FileNotFoundError)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed takes integers separated by commas, got {text!r}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.runner import RunConfig, resolve_defenses, resolve_threats, run

    budget = get_budget(args.budget)
    cfg = RunConfig(budget=budget, defenses=resolve_defenses(args.defenses), threats=resolve_threats(args.threats),
                    out=Path(args.out), seeds=args.seed, progress=not args.no_progress,
                    records=Path(args.records) if args.records else None, commit=args.commit)
    if args.commit and not args.records:
        raise ValueError("--commit needs --records DIR (the directory whose records are committed)")
    print(budget.describe(), flush=True)
    executor = None
    if args.executor == "ray":
        from benchmark.executors import RayExecutor

        executor = RayExecutor(address=args.address, cpus=args.cpus_per_job, gpus=args.gpus_per_job)
    path = run(cfg, data_path=args.data, executor=executor)
    print(path.read_text())
    print(f"leaderboard written to {path}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.results_store import ResultsStore
    from benchmark.runner import write_leaderboard

    db = Path(args.out) / "results.sqlite"
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no results store; run `defense-bench run --out {args.out}` first")
    with ResultsStore(db) as store:
        path = write_leaderboard(Path(args.out), store)
    print(path.read_text())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from attacks import SUITES

    print("defenses:")
    for name in DEFENSES.names():
        print(f"  {name:16s} {DEFENSES.get(name).paper}")
    print("threat models:")
    for name in THREAT_MODELS.names():
        print(f"  {name:16s} {THREAT_MODELS.get(name).paper}")
    print("suites:")
    for name, threats in SUITES.items():
        print(f"  {name:16s} {', '.join(threats)}")
    print("budgets:")
    for b in BUDGETS.values():
        print(f"  {b.describe()}")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from benchmark.perf import main as perf_main

    return perf_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="defense-bench", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (tracebacks of failed runs)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train (or reuse), evaluate and write OUT/LEADERBOARD.md")
    r.add_argument("--budget", default="quick", choices=sorted(BUDGETS), help="training budget (default: quick)")
    r.add_argument("--defenses", default=DEFAULT_DEFENSES,
                   help=f"comma-separated defense specs (default: {DEFAULT_DEFENSES})")
    r.add_argument("--threats", default="paper", help="a suite name or comma-separated threat names")
    r.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision download)")
    r.add_argument("--out", default="runs", help="output directory (default: runs/)")
    r.add_argument("--seed", type=_seeds, default=None, help="seed or seeds, e.g. 0 or 0,1,2 (default: budget's)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--records", default=None,
                   help="keep each finished run as DIR/<run>.json + .pt and resume from those found there "
                        "(the published run uses leaderboard/runs/<budget>)")
    r.add_argument("--commit", action="store_true", help="git-commit each record as soon as it is written")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run jobs in this process (default) or as Ray tasks")
    r.add_argument("--address", default=None, help="Ray cluster to join (e.g. auto); default: start a local one")
    r.add_argument("--cpus-per-job", type=float, default=1, help="Ray: CPUs per job (default 1)")
    r.add_argument("--gpus-per-job", type=float, default=0, help="Ray: GPUs per job (default 0)")
    r.set_defaults(func=cmd_run)

    lb = sub.add_parser("leaderboard", help="re-render OUT/LEADERBOARD.md from the results store")
    lb.add_argument("--out", default="runs")
    lb.set_defaults(func=cmd_leaderboard)

    ls = sub.add_parser("list", help="registered defenses, threat models, suites and budgets")
    ls.set_defaults(func=cmd_list)

    pf = sub.add_parser("perf", help="training throughput vs a conventional PIL + DataLoader pipeline")
    pf.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    pf.add_argument("--steps", type=int, default=30, help="timed steps per pipeline (default: 30)")
    pf.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    pf.set_defaults(func=cmd_perf)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except EXPECTED_ERRORS as e:
        if args.verbose:
            raise
        print(f"defense-bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("defense-bench: interrupted; finished epochs and results are saved, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
