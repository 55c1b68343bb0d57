"""One training run from a composed ``train`` config: ``run(cfg)`` behind ``segkit-train``.

Check the config and the launch, find the checkpoint to resume from, build the data, the task and
the trainer (callbacks, loggers, ``last.ckpt`` writer), fit, and write the run record
(``metrics.json``, :class:`segkit.training.record.RunRecord`). Lightning and torch are imported
only after the config checks passed, so a bad value fails fast and in one line.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from segkit.training.launch import Preempted, check_launch, check_logger_packages
from segkit.training.record import COST_KEYS, RunRecord

if TYPE_CHECKING:
    import lightning as L

    from segkit.training.resume import Resume
    from segkit.training.task import SegTask


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

    from segkit.training.resume import Resume

    start = time.perf_counter()
    # segkit's DataModule records the batch reached in checkpoints and skips what was trained
    # (segkit.data.sampling), so mid-epoch checkpoints resume exactly, unlike Lightning's warning says
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")
    check_logger_packages(cfg)
    check_launch(cfg)
    resume = Resume.from_config(cfg)
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg.threads))
    seed = L.seed_everything(cfg.seed, workers=True)  # seed=null: one is drawn and used throughout
    datamodule = instantiate(cfg.data, seed=seed)
    task = build_task(cfg, datamodule)
    trainer = build_trainer(cfg, resume)
    fit(trainer, task, datamodule, resume, Path(cfg.paths.output_dir))
    record = make_record(cfg, trainer, task, seed, start)
    if trainer.is_global_zero:  # one metrics.json per run, written by rank zero
        publish(record)
    return record.to_dict()


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group of ``_target_`` configs (loggers, callbacks)."""
    from hydra.utils import instantiate

    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def build_task(cfg: DictConfig, datamodule: L.LightningDataModule) -> SegTask:
    """The :class:`SegTask` of ``cfg`` (plain-data hyperparameters) for ``datamodule``'s classes."""
    from segkit.training.task import SegTask

    return SegTask(
        num_classes=datamodule.num_classes,
        class_names=list(datamodule.class_names),
        model=OmegaConf.to_container(cfg.model, resolve=True),
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        loss=OmegaConf.to_container(cfg.loss, resolve=True),
        boundary=OmegaConf.to_container(cfg.boundary, resolve=True),
        channels_last=cfg.channels_last,
        compile=cfg.compile,
    )


def build_trainer(cfg: DictConfig, resume: Resume) -> L.Trainer:
    """The Lightning ``Trainer``: ``cfg.trainer`` with the callbacks and loggers of ``cfg``.

    A run resumed in its own folder continues its W&B run and CSV log. ``last.ckpt`` is always
    written (resume=auto, SIGTERM) unless ``trainer.enable_checkpointing=false``.
    """
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import LearningRateMonitor

    from segkit.training.checkpoint import AtomicCheckpointIO
    from segkit.training.run_state import LastCheckpoint, RunState

    callbacks = [*instantiate_all(cfg.get("callbacks")), RunState()]
    logger_cfg = cfg.get("logger") or {}
    resume.reuse_wandb_run(logger_cfg)
    loggers = instantiate_all(logger_cfg)
    resume.continue_csv_logs(loggers)
    if not loggers:  # LearningRateMonitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if cfg.trainer.get("enable_checkpointing", True):
        callbacks.append(LastCheckpoint(cfg.paths.output_dir))
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    for logger in loggers:  # the whole resolved config, as a plain nested dict
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return trainer


def fit(
    trainer: L.Trainer,
    task: SegTask,
    datamodule: L.LightningDataModule,
    resume: Resume,
    output_dir: Path,
) -> None:
    """``trainer.fit`` from ``resume``'s checkpoint (if any).

    Raises:
        Preempted: SIGTERM stopped the run (after saving ``last.ckpt``, when checkpointing).
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from segkit.training.run_state import LastCheckpoint

    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=resume.ckpt_path, weights_only=True)
    except SIGTERMException:
        saved = next((c.saved for c in trainer.callbacks if isinstance(c, LastCheckpoint)), None)
        raise Preempted(
            f"stopped by SIGTERM at step {trainer.global_step}; "
            + (
                f"saved {saved}; continue with the same command plus "
                f"hydra.run.dir={output_dir} resume=auto"
                if saved
                else "no checkpoint saved (trainer.enable_checkpointing=false)"
            )
        ) from None


def make_record(
    cfg: DictConfig, trainer: L.Trainer, task: SegTask, seed: int, start: float
) -> RunRecord:
    """The run record of a finished fit (``start``: its ``time.perf_counter()`` at the start)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from segkit.measure.callbacks import CheckerboardProbe, TrainSpeed
    from segkit.measure.flops import count_params, forward_gflops

    # the best-score checkpoint (callbacks.model_checkpoint), not segkit's last.ckpt writer
    checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    speed = next((c for c in trainer.callbacks if isinstance(c, TrainSpeed)), None)
    probe = next((c for c in trainer.callbacks if isinstance(c, CheckerboardProbe)), None)
    crop = int(cfg.data.crop_size)
    return RunRecord(
        task_name=cfg.task_name,
        upsampler=cfg.model.upsampler.name,
        encoder=cfg.model.encoder.name,
        fusion=cfg.model.fusion,
        dataset=str(Path(cfg.data.root).resolve()),
        seed=seed,
        params=count_params(task.net),
        # forward GFLOPs of one training-crop-sized image (not counted through torch.compile)
        gflops=None if cfg.compile else round(forward_gflops(task.net, crop, crop), 4),
        gflops_input=[crop, crop],
        train_images_per_s=speed.images_per_s if speed else None,
        # share of the logits' spectral energy at the stride-2 frequencies (segkit.measure.checkerboard)
        checkerboard_init=probe.init if probe else None,
        checkerboard_final=probe.final if probe else None,
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        wall_time_s=round(time.perf_counter() - start, 2),
        # Boundary IoU settings: band width and void rule (val/boundary_mIoU depends on them)
        boundary=dict(task.hparams.boundary),
        final=task.last_scores,
        best=task.best_scores,
        best_checkpoint=checkpoint.best_model_path if checkpoint else None,
        output_dir=str(Path(cfg.paths.output_dir)),
    )


def publish(record: RunRecord) -> None:
    """Write ``metrics.json``, print the scores, and close the W&B run with its summary and records."""
    from segkit.compare.records import RECORDS_FILE

    output_dir = Path(record.output_dir)
    path = record.write(output_dir)
    final = record.final.get("val/mIoU", float("nan"))
    best = record.best.get("val/mIoU", float("nan"))
    print(f"val/mIoU {final:.4f} (best {best:.4f}) in {record.wall_time_s:.0f}s; metrics: {path}")

    wandb = sys.modules.get("wandb")  # imported only by logger=wandb
    if wandb is not None and wandb.run is not None:
        # what segkit-compare --wandb reads besides the logged metrics: costs and val records
        wandb.run.summary.update({k: getattr(record, k) for k in (*COST_KEYS, "wall_time_s")})
        records = output_dir / RECORDS_FILE
        if records.is_file():
            wandb.run.save(str(records), base_path=str(output_dir), policy="now")
        wandb.finish()  # close the run, so the next multirun job starts its own
