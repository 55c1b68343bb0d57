"""Optimizer and learning-rate schedule names, and the schedule itself (no torch needed).

Shared by the task, which builds them, and the config checks, which validate the names before
anything heavy is imported.
"""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "cosine", "constant")


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
