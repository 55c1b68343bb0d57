"""Evaluate a checkpoint under the VOC protocol (Hydra CLI ``segkit-eval``).

    segkit-eval ckpt_path=logs/train/runs/<time>/checkpoints/last.ckpt
    segkit-eval ckpt_path=... data=voc data.root=../shared/voc2012-samples split=val
    segkit-eval ckpt_path=... inference.mode=slide inference.crop=256 inference.stride=170
    segkit-eval ckpt_path=... inference.flip=true inference.scales=[0.75,1.0,1.25]
    segkit-eval ckpt_path=... devices=4 strategy=ddp      # each image on exactly one process
    segkit-eval ckpt_path=... +boundary.void_rule=authors  # the Boundary IoU authors' void rule

What it measures and writes (``eval.json``, ``confusion.png``): :mod:`segkit.evaluation`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from segkit.cli import CONFIG_DIR, exit_with_one_line
from segkit.errors import UserError


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    from segkit.evaluation import evaluate

    try:
        evaluate(cfg)
    except (UserError, FileNotFoundError, ValueError) as err:
        raise exit_with_one_line("segkit-eval", err) from None


if __name__ == "__main__":
    main()
