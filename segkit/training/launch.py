"""Launch checks of ``segkit-train``: what must hold before any data or model is built.

:func:`check_logger_packages` (the chosen loggers' packages are installed) and :func:`check_launch`
(device and multirun settings that cannot work); and :class:`Preempted`, how a run stopped by
SIGTERM after saving its checkpoint ends (``segkit-train`` exits with 128 + 15).
"""

from __future__ import annotations

import os

from omegaconf import DictConfig

from segkit.errors import LaunchError, MissingDependency

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
