"""The ``defense-bench`` command: run the grid, re-render the leaderboard, list components, measure speed."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from benchmark.budgets import BUDGETS, get_budget
from benchmark.checkpoint import CheckpointError, first_sentence
from benchmark.data import ENV_VAR, DataError
from benchmark.registry import DEFENSES, THREAT_MODELS, RegistryError
from benchmark.trainer import PRECISION_ENV, PRECISIONS

DEFAULT_DEFENSES = "baseline,cutout,mixup,cutmix,stylized,shape-texture,prune-filters,prune-layers,prune-both"
EXPECTED_ERRORS = (DataError, RegistryError, CheckpointError, ValueError, FileNotFoundError)  # ValueError covers
# StylizerError, EntryError and SubmissionError


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed takes integers separated by commas, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"--seed takes seeds ≥ 0, got {text!r}")
    return seeds


def _precision(args: argparse.Namespace) -> str | None:
    """``--precision`` or ``$DEFENSE_BENCH_PRECISION``; None: the budget's declared precision."""
    return args.precision or os.environ.get(PRECISION_ENV, "").strip().lower() or None


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.runner import RunConfig, resolve_defenses, resolve_threats, run_grid

    budget = get_budget(args.budget).with_precision(_precision(args))
    cfg = RunConfig(budget=budget, defenses=resolve_defenses(args.defenses), threats=resolve_threats(args.threats),
                    out=Path(args.out), seeds=args.seed, progress=not args.no_progress,
                    records=Path(args.records) if args.records else None, commit=args.commit,
                    publish=args.publish)
    if (args.commit or args.publish) and not args.records:
        raise ValueError("--commit and --publish need --records DIR (e.g. leaderboard/runs/quick)")
    print(budget.describe(), flush=True)
    executor = None
    if args.executor == "ray":
        from benchmark.executors import RayExecutor

        executor = RayExecutor(address=args.address, cpus=args.cpus_per_job, gpus=args.gpus_per_job)
    result = run_grid(cfg, data_path=args.data, executor=executor)
    print(result.path.read_text())
    print(f"leaderboard written to {result.path}")
    if result.failed:
        for slug, error in result.failed.items():
            print(f"defense-bench: run {slug} failed: {error}", file=sys.stderr)
        print(f"defense-bench: {len(result.failed)} of {len(result.ran)} runs failed (exit 1); the others are "
              "saved: re-run the same command to retry only what failed", file=sys.stderr)
        return 1
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.results_store import ResultsStore
    from benchmark.runner import write_leaderboard

    if args.check:
        from benchmark.publish import check_board

        problems = check_board(Path(args.board))
        for p in problems:
            print(p)
        print(f"{'FAIL' if problems else 'PASS'}: {Path(args.board) / 'LEADERBOARD.md'} "
              f"{'differs from' if problems else 'is'} the rendering of {Path(args.board) / 'entries'}")
        return 1 if problems else 0
    if args.render:
        from benchmark.publish import render_board

        md = render_board(Path(args.board))
        print(f"{md} re-rendered from {Path(args.board) / 'entries'}")
        return 0
    if args.publish:
        from benchmark.publish import publish

        records = [Path(r) for r in args.records] if args.records else sorted(
            p for p in (Path(args.board) / "runs").glob("*") if p.is_dir())
        if not records:
            raise FileNotFoundError(f"no run records under {Path(args.board) / 'runs'}")
        md = Path(args.board) / "LEADERBOARD.md"
        paths = publish(records, Path(args.board) / "entries", md)
        print(md.read_text())
        print(f"{len(paths)} entries written to {Path(args.board) / 'entries'}; leaderboard: {md}")
        return 0

    db = Path(args.out) / "results.sqlite"
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no results store; run `defense-bench run --out {args.out}` first")
    with ResultsStore(db) as store:
        path = write_leaderboard(Path(args.out), store)
    print(path.read_text())
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from benchmark.data import load_cifar10
    from benchmark.runner import resolve_threats
    from benchmark.submit import resolve_board, submit

    budget = get_budget(args.budget).with_precision(_precision(args))
    out = Path(args.out)
    board = resolve_board(args.board, out)
    paths = submit(args.defense, budget, load_cifar10(args.data), board, out, seeds=args.seed,
                   threats=resolve_threats(args.threats) if args.threats else None, name=args.name,
                   progress=not args.no_progress)
    for p in paths:
        print(f"entry written: {p}")
    print(f"board: {board / 'LEADERBOARD.md'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from benchmark.data import load_cifar10
    from benchmark.verify import verify

    checks = verify(args.entry, load_cifar10(args.data), tolerance=args.tolerance / 100,
                    progress=not args.no_progress)
    for c in checks:
        print(c)
    failed = sum(not c.ok for c in checks)
    print(f"{'FAIL' if failed else 'PASS'}: {len(checks) - failed}/{len(checks)} numbers reproduced (re-evaluated "
          f"accuracies within {args.tolerance} points, derived numbers to rounding)")
    return 1 if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from benchmark.api import evaluate_model, load_classifier

    model = load_classifier(args.model, args.checkpoint)
    df = evaluate_model(model, threats=args.threats, data=args.data, n=args.n, progress=not args.no_progress)
    table = df[["accuracy", "n", "ci95_low", "ci95_high", "seconds"]].astype({"n": str})
    for c in ("accuracy", "ci95_low", "ci95_high"):
        table[c] = (100 * table[c]).round(2)
    print(table.to_markdown(floatfmt=".2f"))
    for threat, why in df.unavailable.dropna().items():
        print(f"{threat}: not scored ({why})")
    checks = df.attrs["masking"]
    print("gradient-masking checks: " + ("; ".join(f"{k} {'passed' if ok else 'FLAGGED'}" for k, ok in checks.items())
                                          or "not checked (needs pgd with fgsm, square or the PGD variants)"))
    if args.json:
        rows = df.drop(columns=[]).reset_index().to_dict(orient="records")
        text = json.dumps({"model": args.model, "checkpoint": args.checkpoint, "threats": rows, "masking": checks},
                          indent=1, default=str)
        tmp = Path(args.json).with_suffix(".json.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.json)
        print(f"results written to {args.json}")
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


def cmd_stylize(args: argparse.Namespace) -> int:
    import json

    from benchmark import stylizer as st
    from benchmark.data import load_cifar10, to_float

    data = load_cifar10(args.data)
    recipe = args.recipe or st.recipe_for_budget(args.budget)
    s = st.self_trained(recipe, data.x_train, data.y_train, progress=not args.no_progress)
    x, y = to_float(data.x_test[: args.n_images]), data.y_test[: args.n_images]
    judge = None
    if args.judge:
        from benchmark import checkpoint
        from benchmark.models import build_model, conform_to_state_dict

        state = checkpoint.load(args.judge)
        judge = build_model(state.get("arch", "resnet20"))
        conform_to_state_dict(judge, state["model"])
        judge.load_state_dict(state["model"])
        judge.eval()
    report = {"stylizer": s.info["name"], "key": s.info["key"], "train_seconds": s.info["seconds"],
              **st.quality(s, x, y, judge)}
    if args.grid:
        report["grid"] = str(st.save_grid(s, x, y, args.grid))
    print(json.dumps(report, indent=1))
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from benchmark.perf import main as perf_main

    return perf_main(args)


def build_parser() -> argparse.ArgumentParser:
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
    r.add_argument("--threats", default="paper", help="a suite name or comma-separated threat names")
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
    r.add_argument("--cpus-per-job", type=float, default=1, help="Ray: CPUs per job (default 1)")
    r.add_argument("--gpus-per-job", type=float, default=0, help="Ray: GPUs per job (default 0)")
    r.set_defaults(func=cmd_run)

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
    lb.add_argument("--records", nargs="*", default=None, help="record directories (default: BOARD/runs/*)")
    lb.set_defaults(func=cmd_leaderboard)

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
    sb.set_defaults(func=cmd_submit)

    vf = sub.add_parser("verify", help="re-evaluate an entry's stored checkpoints: PASS/FAIL per threat")
    vf.add_argument("entry", help="leaderboard/entries/<entry>.json")
    vf.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    vf.add_argument("--tolerance", type=float, default=0.2, help="allowed difference in points (default 0.2)")
    vf.add_argument("--no-progress", action="store_true")
    vf.set_defaults(func=cmd_verify)

    ev = sub.add_parser("evaluate", help="evaluate any classifier (FILE.py:factory or an architecture) under a suite")
    ev.add_argument("model", help="FILE.py:factory (returns an nn.Module taking [0, 1] NCHW images, giving 10 "
                                  "logits) or an architecture name (resnet20, resnet56, mobilenetv2)")
    ev.add_argument("--checkpoint", default=None, help="weights: a state dict or a defense-bench checkpoint "
                                                       "(read with weights_only=True)")
    ev.add_argument("--threats", default="paper", help="a suite name or comma-separated threat specs (default: paper)")
    ev.add_argument("--n", type=int, default=None, help="first N images of the seeded test permutation (default: all)")
    ev.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    ls = sub.add_parser("list", help="registered defenses, threat models, suites and budgets")
    ls.set_defaults(func=cmd_list)

    sz = sub.add_parser("stylize", help="build (or load) the self-trained AdaIN stylizer, judge it, draw a grid")
    sz.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    sz.add_argument("--budget", default="quick", choices=sorted(BUDGETS), help="the budget whose recipe to use")
    sz.add_argument("--recipe", default=None, help="a stylizer recipe by name (overrides --budget)")
    sz.add_argument("--grid", default=None, help="write a PNG grid: content / style / α=1 / α=0.5 / reconstruction")
    sz.add_argument("--judge", default=None, help="a classifier checkpoint: its accuracy on stylized images")
    sz.add_argument("--n-images", type=int, default=2000, help="test images for the measurements (default 2000)")
    sz.add_argument("--no-progress", action="store_true")
    sz.set_defaults(func=cmd_stylize)

    pf = sub.add_parser("perf", help="training throughput vs a conventional PIL + DataLoader pipeline")
    pf.add_argument("--data", default=None, help=f"CIFAR-10 .npz (default: ${ENV_VAR}, else torchvision)")
    pf.add_argument("--steps", type=int, default=30, help="timed steps per pipeline (default: 30)")
    pf.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    pf.set_defaults(func=cmd_perf)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.precision:
        os.environ[PRECISION_ENV] = args.precision
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
    except Exception as e:  # never a traceback for a user: one line, the traceback with -v
        if args.verbose:
            raise
        print(f"defense-bench: error: {type(e).__name__}: {first_sentence(e)} (-v shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
