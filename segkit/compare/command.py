"""The ``segkit-compare`` command: its arguments, and the report it writes from local or W&B runs.

``segkit-train experiment=compare_upsamplers`` runs the same report itself when its sweep ends
(:mod:`segkit.compare.hydra`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """``segkit-compare``'s arguments."""
    parser = argparse.ArgumentParser(
        prog="segkit-compare", description="Compare upsamplers over finished segkit-train runs."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("runs_dir", nargs="?", help="folder holding the runs (a multirun folder)")
    source.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read runs from W&B (online)")
    parser.add_argument("--group", help="with --wandb: only this run group (experiment)")
    parser.add_argument(
        "--baseline", help="upsampler the differences are taken to (default nearest)"
    )
    parser.add_argument("--out", help="output folder (default: <runs_dir>/report, or ./report)")
    parser.add_argument("--replicates", type=int, default=2000, help="bootstrap replicates")
    stats = parser.add_argument_group("power, convergence and stalls")
    stats.add_argument(
        "--target-diff",
        type=float,
        default=0.01,
        help="mIoU difference whose seeds-needed is reported (default 0.01)",
    )
    stats.add_argument(
        "--power",
        type=float,
        default=0.8,
        help="power of the paired t-test over seeds for the minimal detectable difference "
        "(default 0.8; alpha is 0.05)",
    )
    stats.add_argument(
        "--window",
        type=float,
        default=0.2,
        help="fraction of each run's steps at its end checked for convergence (default 0.2)",
    )
    stats.add_argument(
        "--flat-tol",
        type=float,
        default=0.01,
        help="largest val mIoU change across that window counted as converged (default 0.01)",
    )
    stats.add_argument(
        "--stall-gap",
        type=float,
        default=0.05,
        help="a run whose final mIoU is more than this below the median of its upsampler's "
        "other seeds is stalled (default 0.05)",
    )
    stats.add_argument(
        "--stall-floor",
        type=float,
        default=None,
        help="a run whose final mIoU is below this is stalled (default: none)",
    )
    return parser


def compare(argv: list[str] | None = None) -> int:
    """Run ``segkit-compare`` on ``argv``; the exit status (2 with one line on stderr for bad
    input)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    from segkit.compare.analysis import Settings
    from segkit.compare.report import write_report
    from segkit.compare.runs import CompareError, find_runs, wandb_runs
    from segkit.models.upsamplers import UPSAMPLERS

    if args.replicates < 1:
        parser.error("--replicates must be >= 1")
    settings = Settings(
        power=args.power,
        target_diff=args.target_diff,
        window=args.window,
        flat_tol=args.flat_tol,
        stall_gap=args.stall_gap,
        stall_floor=args.stall_floor,
    )
    try:
        settings.check()
        if args.wandb:
            out = Path(args.out or "report")
            with tempfile.TemporaryDirectory() as tmp:
                runs = wandb_runs(args.wandb, args.group, download_to=Path(tmp))
                report = write_report(
                    runs,
                    out,
                    args.baseline,
                    args.replicates,
                    f"wandb:{args.wandb}",
                    list(UPSAMPLERS),
                    settings,
                )
        else:
            out = Path(args.out) if args.out else Path(args.runs_dir) / "report"
            runs = find_runs(args.runs_dir)
            report = write_report(
                runs, out, args.baseline, args.replicates, args.runs_dir, list(UPSAMPLERS), settings
            )
    except CompareError as err:
        print(f"segkit-compare: error: {err}", file=sys.stderr)
        return 2
    print(f"compared {len(runs)} runs: {report}")
    return 0
