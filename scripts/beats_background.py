"""Does a run beat predicting background everywhere? mIoU of both and a bootstrap interval.

    .venv/bin/python scripts/beats_background.py logs/voc_samples/runs/<time>

Reads the run's ``val_records.npz`` (per-image confusion matrices of its last validation), builds
the all-background predictor's confusions from the same ground truth, and prints both mIoUs and
the paired bootstrap 95% interval of their difference (val images resampled, pairs kept). Exits 1
when the interval does not lie above zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from segkit.compare.records import RECORDS_FILE, read_records
from segkit.compare.stats import miou_from_confusions, paired_bootstrap


def all_background(confusions: np.ndarray) -> np.ndarray:
    """The confusions of predicting class 0 at every pixel, for the same ground truth."""
    out = np.zeros_like(confusions)
    out[..., 0] = confusions.sum(axis=-1)  # every ground-truth pixel of class c predicted as 0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dir", type=Path, help=f"a segkit-train run folder holding {RECORDS_FILE}"
    )
    parser.add_argument("--replicates", type=int, default=10000)
    args = parser.parse_args(argv)
    path = args.run_dir / RECORDS_FILE
    if not path.is_file():
        print(
            f"error: {path} is missing; train with callbacks=default (val_records)", file=sys.stderr
        )
        return 2
    confusions = read_records(path)["confusions"]
    background = all_background(confusions)
    iv = paired_bootstrap([confusions], [background], replicates=args.replicates)
    run_miou = float(miou_from_confusions(confusions.sum(0)))
    bg_miou = float(miou_from_confusions(background.sum(0)))
    print(f"val images {iv.images}: run mIoU {run_miou:.4f}, all-background mIoU {bg_miou:.4f}")
    print(f"difference {iv.estimate:+.4f}, 95% bootstrap interval [{iv.low:+.4f}, {iv.high:+.4f}]")
    return 0 if iv.low > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
