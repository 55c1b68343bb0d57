"""Evaluating a checkpoint under the VOC protocol (``segkit-eval``): scores, ``eval.json`` and
``confusion.png``.

Validation runs through the same ``SegTask.validation_step`` as training, so on the same data and
inference settings the scores equal the ones the training run logged for that checkpoint.
``eval.json`` holds the scores, checkpoint, data, inference and Boundary IoU settings;
``confusion.png`` the row-normalised confusion matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _datamodule(cfg: DictConfig, checkpoint: dict[str, Any]):
    from hydra.utils import instantiate

    from segkit.data.datamodule import SegDataModule
    from segkit.training.checkpoint import CheckpointError

    if cfg.get("data") is not None:
        datamodule = instantiate(cfg.data)
    else:
        stored = checkpoint.get("datamodule_hyper_parameters")
        if not stored:
            raise CheckpointError(
                f"{cfg.ckpt_path} does not record its data; pass data=<option> (and data.root=...)"
            )
        datamodule = SegDataModule(**stored)
    if cfg.split is not None:
        datamodule.val_split = cfg.split
    if cfg.num_workers is not None:
        datamodule.num_workers = int(cfg.num_workers)
    return datamodule


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt_path`` (a composed ``eval.yaml``); write ``eval.json`` and ``confusion.png``; return the scores."""
    import lightning as L

    from segkit.compare import figures
    from segkit.inference import merge_options
    from segkit.io import write_json
    from segkit.metrics import check_boundary_options
    from segkit.training.checkpoint import CheckpointError, describe, load_task, read_checkpoint

    output_dir = Path(cfg.paths.output_dir)
    checkpoint = read_checkpoint(cfg.ckpt_path)
    stored = checkpoint["hyper_parameters"]
    inference = merge_options(stored.get("inference"), OmegaConf.to_container(cfg.inference))
    overrides: dict[str, Any] = {"inference": inference}
    if cfg.get("boundary") is not None:  # the keys given replace the checkpoint's
        given = OmegaConf.to_container(cfg.boundary, resolve=True)
        check_boundary_options(given)
        overrides["boundary"] = {**(stored.get("boundary") or {}), **given}
    task, _ = load_task(cfg.ckpt_path, **overrides)
    datamodule = _datamodule(cfg, checkpoint)
    if list(datamodule.class_names) != list(task.hparams.class_names):
        raise CheckpointError(
            f"{cfg.ckpt_path} predicts {task.hparams.num_classes} classes "
            f"({', '.join(task.hparams.class_names[:3])}, ...) but the data's classes differ "
            f"({datamodule.num_classes}: {', '.join(datamodule.class_names[:3])}, ...); choose the "
            "data it was trained for"
        )
    precision = cfg.precision or checkpoint.get("segkit_precision") or "32-true"
    # the DataModule shards validation itself (no DistributedSampler padding duplicates), and the
    # metrics sum their states over processes: the scores equal a single process's
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
        precision=precision, logger=False, enable_checkpointing=False,
        enable_model_summary=False, default_root_dir=str(output_dir),
        use_distributed_sampler=False,
    )  # fmt: skip
    trainer.validate(task, datamodule=datamodule, verbose=False)
    scores = dict(task.last_scores)
    scores.pop("epoch", None)
    scores.pop("val/mIoU_best", None)
    confmat = task.last_confmat
    names = list(task.hparams.class_names)
    result = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "network": describe(task.hparams),
        "epoch": checkpoint.get("epoch"),
        "data": {"root": str(datamodule.root), "split": datamodule.val_split},
        "inference": inference,
        # Boundary IoU settings: band width and void rule (val/boundary_mIoU depends on them)
        "boundary": dict(task.hparams.boundary),
        "precision": precision,
        "scores": scores,
        "confusion": confmat.tolist() if confmat is not None else None,
        "processes": trainer.world_size,
        "training_run": _training_run(Path(cfg.ckpt_path)),
    }
    if not trainer.is_global_zero:  # every process holds the same result; one writes it
        return result
    path = write_json(output_dir / "eval.json", result)
    if confmat is not None:
        figures.confusion_heatmap(confmat.numpy(), names, output_dir / "confusion.png")
    _print_table(scores, names, result)
    print(f"eval: {path}")
    return result


def _training_run(ckpt_path: Path) -> dict[str, Any] | None:
    """What the checkpoint's own run recorded (``<run>/metrics.json`` beside ``checkpoints/``):
    its names, seed and last logged scores, to set beside this evaluation; None without one."""
    from segkit.training.record import RunRecord

    path = ckpt_path.resolve().parent.parent / RunRecord.FILE
    if not path.is_file():
        return None
    record = RunRecord.read(path)
    return {"metrics": str(path), "upsampler": record.upsampler, "encoder": record.encoder,
            "fusion": record.fusion, "seed": record.seed, "final": record.final}  # fmt: skip


def _print_table(scores: dict[str, float], names: list[str], result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{result['network']} on {result['data']['split']} ({result['data']['root']})"
    )
    table.add_column("class")
    table.add_column("IoU", justify="right")
    table.add_column("boundary IoU", justify="right")

    def fmt(value: float | None) -> str:
        return "-" if value is None or value != value else f"{value:.4f}"

    for name in names:
        table.add_row(
            name, fmt(scores.get(f"val/IoU/{name}")), fmt(scores.get(f"val/boundary_IoU/{name}"))
        )
    table.add_section()
    table.add_row(
        "[bold]mIoU (mean)",
        f"[bold]{fmt(scores['val/mIoU'])}",
        f"[bold]{fmt(scores.get('val/boundary_mIoU'))}",
    )
    console = Console()
    console.print(table)
    console.print(
        f"frequency-weighted IoU {fmt(scores.get('val/fwIoU'))}, pixel accuracy "
        f"{fmt(scores['val/pixel_acc'])}, mean accuracy {fmt(scores['val/mean_acc'])}, "
        f"{scores['val/pixels']:,} pixels scored; inference {result['inference'] or 'whole image'}; "
        f"boundary void rule {result['boundary'].get('void_rule', 'fill')}"
    )
