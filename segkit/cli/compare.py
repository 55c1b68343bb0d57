"""Compare finished runs: ``summary.csv``, ``report.md`` and figures.

    segkit-compare logs/compare_upsamplers/multiruns/2026-11-25_10-00-00
    segkit-compare <dir> --baseline transpose --out reports/upsamplers
    segkit-compare --wandb my-team/segkit --group compare_upsamplers   # online, W&B public API

``segkit-train experiment=compare_upsamplers`` runs this itself when its sweep ends.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    from segkit.compare.report import write_report
    from segkit.compare.runs import CompareError, find_runs, wandb_runs
    from segkit.models.upsamplers import UPSAMPLERS

    if args.replicates < 1:
        parser.error("--replicates must be >= 1")
    try:
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
                )
        else:
            out = Path(args.out) if args.out else Path(args.runs_dir) / "report"
            runs = find_runs(args.runs_dir)
            report = write_report(
                runs, out, args.baseline, args.replicates, args.runs_dir, list(UPSAMPLERS)
            )
    except CompareError as err:
        print(f"segkit-compare: error: {err}", file=sys.stderr)
        return 2
    print(f"compared {len(runs)} runs: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
