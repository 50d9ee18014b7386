"""The ``defense-bench`` command: run the grid, re-render the leaderboard, list components, measure speed."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from benchmark.budgets import BUDGETS, get_budget
from benchmark.checkpoint import CheckpointError, first_sentence
from benchmark.cli_parser import DEFAULT_DEFENSES  # noqa: F401 - documented default of `run`
from benchmark.data import DataError
from benchmark.precision import PRECISION_ENV
from benchmark.registry import DEFENSES, THREAT_MODELS, RegistryError

EXPECTED_ERRORS = (DataError, RegistryError, CheckpointError, ValueError, FileNotFoundError)  # ValueError covers
# StylizerError, EntryError and SubmissionError


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
        print(f"{'FAIL' if problems else 'PASS'}: {Path(args.board) / 'LEADERBOARD.md'} and index.html "
              f"{'differ from' if problems else 'are'} the rendering of {Path(args.board) / 'entries'}")
        return 1 if problems else 0
    if args.render:
        from benchmark.publish import render_board

        md = render_board(Path(args.board))
        print(f"{md}, its plots and {md.parent / 'index.html'} re-rendered from {Path(args.board) / 'entries'}")
        return 0
    if args.publish:
        from benchmark.publish import publish
        from benchmark.records import RECORD_FOLDERS, record_dirs

        records = [Path(r) for r in args.records] if args.records else record_dirs(Path(args.board))
        if not records:
            raise FileNotFoundError(f"no run records under {Path(args.board)}/{{{','.join(RECORD_FOLDERS)}}}")
        for r in records:
            if not r.is_dir() or not any(r.glob("*.json")):
                why = "no run records (*.json) in it" if r.is_dir() else "no such folder"
                raise FileNotFoundError(f"--records {r}: {why}")
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
    paths = submit(args.defense, budget, lambda: load_cifar10(args.data), board, out, seeds=args.seed,
                   threats=resolve_threats(args.threats) if args.threats else None, name=args.name,
                   progress=not args.no_progress)
    for p in paths:
        print(f"entry written: {p}")
    print(f"board: {board / 'LEADERBOARD.md'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from benchmark.data import load_cifar10
    from benchmark.verify import stored_checks, verify

    if args.stored:
        failed_entries = 0
        for path in args.entry:
            checks = stored_checks(path)
            bad = [c for c in checks if not c.ok]
            failed_entries += bool(bad)
            for c in bad:
                print(f"{path}: {c}")
            print(f"{'FAIL' if bad else 'PASS'}: {path}: {len(checks) - len(bad)}/{len(checks)} fields equal to "
                  "their rebuilding from the run records")
        return 1 if failed_entries else 0
    if len(args.entry) > 1:
        raise ValueError("verify re-evaluates one entry at a time; --stored checks several")
    checks = verify(args.entry[0], lambda: load_cifar10(args.data), tolerance=args.tolerance / 100,
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
    import torch

    from benchmark.precision import Precision

    precision = Precision.for_budget(_precision(args) or get_budget(args.budget).precision, "cpu")
    s = st.self_trained(recipe, data.x_train, data.y_train, progress=not args.no_progress,
                        bf16=precision.amp_dtype == torch.bfloat16)
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
    from benchmark import cli_parser

    return cli_parser.build_parser({name.removeprefix("cmd_"): f for name, f in globals().items()
                                    if name.startswith("cmd_")})


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
