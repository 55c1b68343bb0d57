"""The optimizer and its per-step learning-rate schedule (``optim.*``): rules and builder.

The rules are checked when the optimizer is built and, through ``segkit.training.checks``, before
anything heavy runs; this module imports torch only inside :func:`build_optimizer`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segkit.errors import ConfigError
from segkit.options import ABSENT, Rule, check_values, numbers, show

if TYPE_CHECKING:
    import torch
    from torch import nn

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "cosine", "constant")
OPTIM_RULES = {
    "lr": Rule("number", lambda v: v > 0, "a number > 0", "0.01"),
    "weight_decay": Rule("number", lambda v: v >= 0, "a number >= 0", "0.0001"),
    "norm_weight_decay": Rule("number", lambda v: v >= 0, "a number >= 0", "0.0"),
    "momentum": Rule("number", lambda v: 0 <= v < 1, "a number in [0, 1)", "0.9"),
    "nesterov": Rule("bool", lambda v: True, "true or false", "false"),
    "power": Rule("number", lambda v: v >= 0, "a number >= 0", "0.9"),
    "warmup_steps": Rule("int", lambda v: v >= 0, "an integer >= 0", "50"),
}


def check_optim_options(values: Mapping[str, Any]) -> None:
    """Check the ``optim`` node: names, types and ranges, betas, and nesterov with momentum."""
    check_values("optim", values, OPTIM_RULES)
    betas = numbers("optim.betas", values.get("betas", ABSENT), 2, "[0.9,0.999]")
    if betas is not None and not all(0 <= b < 1 for b in betas):
        raise ConfigError(
            f"optim.betas={show(betas)} must lie in [0, 1); set e.g. optim.betas=[0.9,0.999]"
        )
    for key, kind, valid in (
        ("name", "optimizer", OPTIMIZERS),
        ("schedule", "schedule", SCHEDULES),
    ):
        value = values.get(key, ABSENT)
        if value is not ABSENT and value not in valid:
            raise ConfigError(
                f"unknown {kind} {show(value)} (optim.{key}); valid: {', '.join(valid)}"
            )
    if values.get("nesterov") is True and values.get("momentum") in (0, 0.0):
        raise ConfigError(
            "optim.nesterov=true needs optim.momentum > 0, got 0; set optim.momentum=0.9 or "
            "optim.nesterov=false"
        )


@cache
def default_optim() -> dict[str, Any]:
    """The optimizer a task gets for keys its ``optim`` leaves out: ``configs/optim/sgd.yaml``,
    the config tree's default, so the defaults are written in one place."""
    from omegaconf import OmegaConf

    path = Path(__file__).resolve().parents[1] / "configs" / "optim" / "sgd.yaml"
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def lr_factor(step: int, total: int, schedule: str, power: float, warmup: int) -> float:
    """LR multiplier at optimisation ``step`` of ``total``: linear warm-up, then the schedule."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "poly":
        return (1.0 - progress) ** power
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def build_optimizer(
    net: nn.Module, optim: Mapping[str, Any], total: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimizer and per-step LR schedule of ``optim`` for a run of ``total`` steps.

    Norm layers and biases get ``norm_weight_decay`` (usually 0; torchvision's references), every
    other parameter ``weight_decay``.
    """
    import torch
    from torch import nn

    cfg = {**default_optim(), **optim}
    check_optim_options(cfg)
    decay, no_decay = [], []
    for module in net.modules():
        for name, param in module.named_parameters(recurse=False):
            is_norm = isinstance(
                module, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm
            )
            (no_decay if is_norm or name == "bias" else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg["weight_decay"]},
        {"params": no_decay, "weight_decay": cfg["norm_weight_decay"]},
    ]
    if cfg["name"] == "sgd":
        optimizer = torch.optim.SGD(
            groups, lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg.get("nesterov", False)
        )
    else:
        optimizer = torch.optim.AdamW(
            groups, lr=cfg["lr"], betas=tuple(cfg.get("betas", (0.9, 0.999)))
        )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step, total, cfg["schedule"], cfg["power"], int(cfg["warmup_steps"])
        ),
    )
    return optimizer, scheduler
