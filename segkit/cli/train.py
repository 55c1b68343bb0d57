"""Train a segmentation model (Hydra CLI).

    segkit-train                                           # default recipe, synthetic set
    segkit-train model/upsampler=max_unpool trainer.max_epochs=3
    segkit-train -m model/upsampler=nearest,bed_of_nails,max_unpool,transpose seed=1,2,3
    segkit-train data=voc data.root=../shared/voc2012-samples
    segkit-train logger=wandb                              # offline W&B run in the output dir
    python -m segkit.cli.train --help

Every run writes ``metrics.json`` (final and best val metrics, per-class IoU, upsampler, parameter
count, wall time) into its output directory and prints where that is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from segkit.cli import CONFIG_DIR, exit_with_one_line


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group of ``_target_`` configs (loggers, callbacks)."""
    from hydra.utils import instantiate

    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


class MissingDependency(RuntimeError):
    """An optional package the chosen config needs is not installed."""


# logger class -> (import name, pip requirement) of the package it needs
LOGGER_PACKAGES = {
    "WandbLogger": ("wandb", "wandb"),
    "TensorBoardLogger": ("tensorboard", "segkit[tensorboard]"),
}


def check_logger_packages(cfg: DictConfig) -> None:
    """Fail before training, with the install command, when a chosen logger's package is missing."""
    import importlib

    for key, entry in (cfg.get("logger") or {}).items():
        target = entry.get("_target_", "") if isinstance(entry, DictConfig) else ""
        package = LOGGER_PACKAGES.get(target.rsplit(".", 1)[-1])
        if package is None:
            continue
        try:
            importlib.import_module(package[0])
        except ImportError:
            raise MissingDependency(
                f"logger={key} needs the {package[0]} package: pip install '{package[1]}' "
                "(or choose logger=csv or logger=none)"
            ) from None


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fit the task described by ``cfg``; write and return the run's metrics.

    Args:
        cfg: the composed ``train`` config.

    Returns:
        The contents of ``metrics.json``.
    """
    # Heavy imports only once the config composed (keeps --help and config errors fast).
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import LearningRateMonitor

    from segkit.callbacks import TrainSpeed
    from segkit.checkpoint import read_checkpoint
    from segkit.io import RECORDS_FILE, write_json
    from segkit.profiling import count_params, forward_gflops
    from segkit.task import SegTask

    start = time.perf_counter()
    check_logger_packages(cfg)
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

    datamodule = instantiate(cfg.data)
    task = SegTask(
        num_classes=datamodule.num_classes,
        class_names=list(datamodule.class_names),
        model=OmegaConf.to_container(cfg.model, resolve=True),
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        loss=OmegaConf.to_container(cfg.loss, resolve=True),
        boundary=OmegaConf.to_container(cfg.boundary, resolve=True),
        channels_last=cfg.channels_last,
        compile=cfg.compile,
    )
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    if not loggers:  # LearningRateMonitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:  # the whole resolved config, as a plain nested dict
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        read_checkpoint(ckpt_path)  # weights-only, one-line errors, before any training
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)

    checkpoint = trainer.checkpoint_callback
    speed = next((c for c in trainer.callbacks if isinstance(c, TrainSpeed)), None)
    crop = int(cfg.data.crop_size)
    metrics = {
        "task_name": cfg.task_name,
        "upsampler": cfg.model.upsampler.name,
        "encoder": cfg.model.encoder.name,
        "fusion": cfg.model.fusion,
        "dataset": str(Path(cfg.data.root).resolve()),
        "seed": cfg.seed,
        "params": count_params(task.net),
        # forward GFLOPs of one training-crop-sized image (not counted through torch.compile)
        "gflops": None if cfg.compile else round(forward_gflops(task.net, crop, crop), 4),
        "gflops_input": [crop, crop],
        "train_images_per_s": speed.images_per_s if speed else None,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "final": task.last_scores,
        "best": task.best_scores,
        "best_checkpoint": checkpoint.best_model_path if checkpoint else None,
        "output_dir": str(output_dir),
    }
    if not trainer.is_global_zero:  # one metrics.json per run, written by rank zero
        return metrics
    path = write_json(output_dir / "metrics.json", metrics)
    final = metrics["final"].get("val/mIoU", float("nan"))
    best = metrics["best"].get("val/mIoU", float("nan"))
    print(
        f"val/mIoU {final:.4f} (best {best:.4f}) in {metrics['wall_time_s']:.0f}s; metrics: {path}"
    )

    wandb = sys.modules.get("wandb")  # imported only by logger=wandb
    if wandb is not None and wandb.run is not None:
        # what segkit-compare --wandb reads besides the logged metrics: costs and val records
        wandb.run.summary.update(
            {k: metrics[k] for k in ("params", "gflops", "train_images_per_s", "wall_time_s")}
        )
        records = output_dir / RECORDS_FILE
        if records.is_file():
            wandb.run.save(str(records), base_path=str(output_dir), policy="now")
        wandb.finish()  # close the run, so the next multirun job starts its own
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the optimised metric for sweepers."""
    from segkit.checkpoint import CheckpointError
    from segkit.data.checks import DataError

    try:
        metrics = run(cfg)
    except (
        DataError,
        FileNotFoundError,
        FileExistsError,
        MissingDependency,
        CheckpointError,
    ) as err:
        raise exit_with_one_line("segkit-train", err) from None
    name = cfg.get("optimized_metric")
    return metrics["final"].get(name) if name else None


if __name__ == "__main__":
    main()
