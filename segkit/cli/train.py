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
count, Boundary IoU settings, wall time) into its output directory and prints where that is.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from segkit.cli import CONFIG_DIR, exit_with_one_line
from segkit.errors import LaunchError, MissingDependency, UserError


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group of ``_target_`` configs (loggers, callbacks)."""
    from hydra.utils import instantiate

    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


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


class Preempted(RuntimeError):
    """The run was stopped by SIGTERM after saving a resumable checkpoint."""


def check_launch(cfg: DictConfig) -> None:
    """Refuse launch settings that cannot work, before any data or model is built.

    SyncBatchNorm on CPU fails inside DDP's constructor, so it is caught here. DDP that Lightning
    would start by re-running this command is refused inside a Hydra ``-m`` sweep:

    Lightning's DDP launcher starts ranks 1..N-1 by re-running ``sys.argv``; inside a multirun that
    re-runs the whole sweep in every rank. Under SLURM (``hydra/launcher=slurm``, where srun starts
    one task per device) or torchrun, the ranks already exist and nothing is re-run.
    """
    import torch
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    trainer = cfg.get("trainer") or {}
    accelerator = str(trainer.get("accelerator", "auto"))
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if trainer.get("sync_batchnorm") and on_cpu:
        raise LaunchError(
            "trainer.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm has no CPU kernels); "
            "set trainer.sync_batchnorm=false for DDP on CPU"
        )
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    strategy, devices = str(trainer.get("strategy", "auto")), trainer.get("devices", 1)
    several = str(devices) not in ("1", "None")
    if str(devices) in ("auto", "-1"):  # every visible GPU; one process on a CPU
        several = not on_cpu and torch.cuda.device_count() > 1
    several = several or int(trainer.get("num_nodes", 1)) > 1
    # strategy=auto with several devices is DDP as well: Lightning picks it
    spawned_by_lightning = strategy == "auto" or (
        strategy.startswith("ddp") and "spawn" not in strategy
    )
    if (
        spawned_by_lightning
        and several
        and not (os.environ.get("SLURM_NTASKS") or os.environ.get("LOCAL_RANK"))
    ):
        raise LaunchError(
            f"trainer.strategy={strategy} with trainer.devices={devices} inside a Hydra multirun "
            "(-m): Lightning would re-run the whole sweep in every rank; run the jobs without -m, "
            "or sweep with hydra/launcher=slurm (srun starts one task per device)"
        )


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fit the task described by ``cfg``; write and return the run's metrics.

    Args:
        cfg: the composed ``train`` config.

    Returns:
        The contents of ``metrics.json``.
    """
    from segkit.training.checks import check_train_config

    check_train_config(cfg)  # one-line errors for bad values before anything heavy
    # Heavy imports only once the config composed (keeps --help and config errors fast).
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from segkit.compare.records import RECORDS_FILE
    from segkit.io import COST_KEYS, write_json
    from segkit.measure.flops import count_params, forward_gflops
    from segkit.training.callbacks import (
        CheckerboardProbe,
        LastCheckpoint,
        SigtermCheckpoint,
        TrainSpeed,
    )
    from segkit.training.checkpoint import AtomicCheckpointIO, read_checkpoint
    from segkit.training.resume import csv_rows_until, last_checkpoint, resolve_resume
    from segkit.training.task import SegTask

    start = time.perf_counter()
    # segkit's DataModule records the batch reached in checkpoints and skips what was trained
    # (segkit.data.sampling), so mid-epoch checkpoints resume exactly, unlike Lightning's warning says
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")
    check_logger_packages(cfg)
    check_launch(cfg)
    ckpt_path = resolve_resume(cfg.paths.output_dir, cfg.get("resume"), cfg.get("ckpt_path"))
    # weights-only, one-line errors, before any training
    resumed = read_checkpoint(ckpt_path) if ckpt_path else {}
    # a run continued in its own folder also continues its logs (W&B run, CSV rows); a checkpoint
    # from elsewhere only starts this run from that state
    same_run = bool(ckpt_path) and Path(ckpt_path).resolve().is_relative_to(
        Path(cfg.paths.output_dir).resolve()
    )
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg.threads))
    seed = L.seed_everything(cfg.seed, workers=True)  # seed=null: one is drawn and used throughout
    output_dir = Path(cfg.paths.output_dir)

    datamodule = instantiate(cfg.data, seed=seed)
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
    logger_cfg = cfg.get("logger") or {}
    if same_run and resumed.get("segkit_wandb_id") and "wandb" in logger_cfg:
        with open_dict(logger_cfg):  # continue the interrupted run's W&B run, not a new one
            logger_cfg.wandb.id = resumed["segkit_wandb_id"]
            logger_cfg.wandb.resume = "allow"
    loggers = _instantiate_all(logger_cfg)
    for (
        logger
    ) in loggers:  # a resumed CSV log goes on from the checkpoint's step (rank 0 writes it)
        if same_run and rank_zero_only.rank == 0 and isinstance(logger, CSVLogger):
            kept = csv_rows_until(Path(logger.log_dir) / "metrics.csv", resumed["global_step"])
            logger.experiment.metrics[:0] = kept  # the file is rewritten with them on next save
    if not loggers:  # LearningRateMonitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if cfg.trainer.get("enable_checkpointing", True):
        # always last.ckpt (resume=auto) and a SIGTERM checkpoint, whatever the callbacks group
        checkpoint_dir = last_checkpoint(output_dir).parent  # the file resume=auto looks for
        callbacks += [LastCheckpoint(checkpoint_dir), SigtermCheckpoint(checkpoint_dir)]
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    for logger in loggers:  # the whole resolved config, as a plain nested dict
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        saved = next((c.saved for c in callbacks if isinstance(c, SigtermCheckpoint)), None)
        raise Preempted(
            f"stopped by SIGTERM at step {trainer.global_step}; "
            + (
                f"saved {saved}; continue with the same command plus "
                f"hydra.run.dir={output_dir} resume=auto"
                if saved
                else "no checkpoint saved (trainer.enable_checkpointing=false)"
            )
        ) from None

    # the best-score checkpoint (callbacks.model_checkpoint), not segkit's last.ckpt writer
    checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    speed = next((c for c in trainer.callbacks if isinstance(c, TrainSpeed)), None)
    probe = next((c for c in trainer.callbacks if isinstance(c, CheckerboardProbe)), None)
    crop = int(cfg.data.crop_size)
    metrics = {
        "task_name": cfg.task_name,
        "upsampler": cfg.model.upsampler.name,
        "encoder": cfg.model.encoder.name,
        "fusion": cfg.model.fusion,
        "dataset": str(Path(cfg.data.root).resolve()),
        "seed": seed,
        "params": count_params(task.net),
        # forward GFLOPs of one training-crop-sized image (not counted through torch.compile)
        "gflops": None if cfg.compile else round(forward_gflops(task.net, crop, crop), 4),
        "gflops_input": [crop, crop],
        "train_images_per_s": speed.images_per_s if speed else None,
        # share of the logits' spectral energy at the stride-2 frequencies (segkit.measure.checkerboard)
        "checkerboard_init": probe.init if probe else None,
        "checkerboard_final": probe.final if probe else None,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "wall_time_s": round(time.perf_counter() - start, 2),
        # Boundary IoU settings: band width and void rule (val/boundary_mIoU depends on them)
        "boundary": dict(task.hparams.boundary),
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
        wandb.run.summary.update({k: metrics[k] for k in (*COST_KEYS, "wall_time_s")})
        records = output_dir / RECORDS_FILE
        if records.is_file():
            wandb.run.save(str(records), base_path=str(output_dir), policy="now")
        wandb.finish()  # close the run, so the next multirun job starts its own
    return metrics


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
