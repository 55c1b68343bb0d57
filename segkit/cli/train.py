"""Train a segmentation model (Hydra CLI).

    segkit-train                                           # default recipe, synthetic set
    segkit-train model/upsampler=max_unpool trainer.max_epochs=3
    segkit-train -m model/upsampler=nearest,bed_of_nails,max_unpool,transpose seed=1,2,3
    segkit-train data=voc data.root=../shared/voc2012-samples
    segkit-train logger=wandb                              # offline W&B run in the output dir
    segkit-train hydra.run.dir=logs/train/runs/r1 resume=auto  # continue r1 exactly, if it has a
                                                           # checkpoint (else start it)
    python -m segkit.cli.train --help

Every run writes ``metrics.json`` (final and best val metrics, per-class IoU, upsampler, parameter
count, Boundary IoU settings, wall time) into its output directory and prints where that is. The
run itself is :func:`segkit.training.run.run`.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from segkit.cli import CONFIG_DIR, exit_with_one_line
from segkit.errors import UserError
from segkit.training.launch import Preempted
from segkit.training.run import run


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the optimised metric for sweepers."""
    try:
        metrics = run(cfg)
    except Preempted as err:
        print(f"segkit-train: {err}", file=sys.stderr)
        raise SystemExit(128 + 15) from None  # the shell's code for "terminated by SIGTERM"
    except (UserError, FileNotFoundError, FileExistsError) as err:
        raise exit_with_one_line("segkit-train", err) from None
    name = cfg.get("optimized_metric")
    return metrics["final"].get(name) if name else None


if __name__ == "__main__":
    main()
