"""Segment images with a checkpoint (Hydra CLI ``segkit-predict``).

    segkit-predict ckpt_path=<run>/checkpoints/last.ckpt input=photo.jpg output=pred
    segkit-predict ckpt_path=... input=<folder> output=pred
    segkit-predict ckpt_path=... 'input=images/*.jpg' output=pred inference.flip=true

What it writes (masks and overlays): :mod:`segkit.prediction`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from segkit.cli import CONFIG_DIR, exit_with_one_line
from segkit.errors import UserError


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    from segkit.prediction import predict

    try:
        predict(cfg)
    except (UserError, FileNotFoundError, ValueError) as err:
        raise exit_with_one_line("segkit-predict", err) from None


if __name__ == "__main__":
    main()
