"""The loss's class weights (``loss.*``): their rules, and the weight vector cross-entropy uses.

Checked when the task is built and, through ``segkit.training.checks``, before anything heavy
runs; torch is imported only inside :func:`class_weights`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from segkit.errors import ConfigError
from segkit.options import ABSENT, Rule, check_values, is_number, kind, show

if TYPE_CHECKING:
    import torch

LOSS_RULES = {"background_weight": Rule("number", lambda v: v > 0, "a number > 0", "1.0")}


def check_loss_options(values: Mapping[str, Any], num_classes: int | None) -> None:
    """Check the ``loss`` node; ``class_weights`` needs one weight >= 0 per class."""
    check_values("loss", values, LOSS_RULES)
    weights = values.get("class_weights", ABSENT)
    if weights is ABSENT or weights is None or num_classes is None:
        return
    n = num_classes
    if not isinstance(weights, list | tuple) or len(weights) != n:
        got = f"{len(weights)} values" if isinstance(weights, list | tuple) else kind(weights)
        raise ConfigError(
            f"loss.class_weights needs {n} numbers >= 0 (one per class of data.class_names), got "
            f"{show(weights)} ({got}); list {n} weights or set loss.class_weights=null"
        )
    if not all(is_number(w) and w >= 0 for w in weights):
        raise ConfigError(
            f"loss.class_weights={show(weights)} holds a value that is not a number >= 0; "
            "give each class a weight >= 0"
        )


def class_weights(num_classes: int, loss: Mapping[str, Any]) -> torch.Tensor | None:
    """Cross-entropy's per-class weights: ``class_weights``, else ``background_weight`` on class 0
    (None when every class weighs 1)."""
    import torch

    check_loss_options(loss, num_classes)
    if loss.get("class_weights") is not None:
        return torch.tensor(list(loss["class_weights"]), dtype=torch.float32)
    background = float(loss.get("background_weight", 1.0))
    if background == 1.0:
        return None
    weights = torch.ones(num_classes)
    weights[0] = background
    return weights
