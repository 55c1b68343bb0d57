"""Launch checks of the composed train config: bad values fail in one line before any real work.

``segkit-train`` calls :func:`check_train_config` first, so a typo costs a second instead of a
model build, a Trainer start and a failed first step. The function only orchestrates: each part
checks its own node with the rules it also applies when it is built (``segkit.data.settings``,
``segkit.training.optim``, ``segkit.training.loss``, ``segkit.metrics.check_boundary_options``,
``segkit.models.fcn.check_model_options``, ``segkit.inference.InferenceConfig``). The rules kept
here are the run's own: its top-level keys and the Trainer's length and limits.

Types and ranges of the data, optimizer, loss and run settings need neither torch nor Lightning;
the model, Boundary IoU and dataset checks import torch (which the run needs next anyway).
Deliberately not rejected (see ``docs/errors.md``): a ``data.crop_size`` larger than the rescaled
images (the training crop pads images with 0 and masks with void), and ``trainer.devices`` /
strategy combinations, which ``segkit.training.launch`` owns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from segkit.data.settings import check_data_options, check_dataset
from segkit.errors import ConfigError
from segkit.options import ABSENT, Rule, check_value, check_writable_dir, is_int, wrap
from segkit.training.loss import check_loss_options
from segkit.training.optim import check_optim_options

SEED_MAX = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces
# the run's own keys (segkit.training.run) and the Trainer's length and limits
RUN_RULES = {
    "seed": Rule("int", lambda v: 0 <= v <= SEED_MAX, f"an integer in [0, {SEED_MAX}]", "42", True),
    "channels_last": Rule("bool", lambda v: True, "true or false", "false"),
    "compile": Rule("bool", lambda v: True, "true or false", "false"),
    "threads": Rule("int", lambda v: v >= 1, "an integer >= 1 or null", "1", nullable=True),
    "trainer.max_epochs": Rule(
        "int", lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for no limit", "10", True
    ),
    "trainer.max_steps": Rule(
        "int", lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for no limit", "-1"
    ),
    "trainer.limit_train_batches": Rule(
        "number",
        lambda v: v >= 1 if is_int(v) else 0 < v <= 1,
        "an integer >= 1 (batches) or a fraction in (0, 1]",
        "1.0",
    ),
    "trainer.limit_val_batches": Rule(
        "number",
        lambda v: v >= 0 if is_int(v) else 0 <= v <= 1,
        "an integer >= 0 (batches) or a fraction in [0, 1]",
        "1.0",
    ),
}


def get(cfg: DictConfig, key: str) -> Any:
    """The resolved value at ``key`` as plain data (lists and dicts), or ``ABSENT``."""
    try:
        value = OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=True)
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        missing = str(getattr(err, "full_key", "") or key)
        raise ConfigError(
            f"{missing} is not set (???); set it on the command line: {missing}=..."
        ) from None
    except OmegaConfBaseException as err:
        first = str(err).strip().splitlines()[0]
        broken = str(getattr(err, "full_key", "") or key)
        raise ConfigError(f"{broken} cannot be resolved ({first}); fix its interpolation") from None
    return value


def _node(cfg: DictConfig, key: str) -> dict[str, Any]:
    value = get(cfg, key)
    return value if isinstance(value, dict) else {}


def _check_run(cfg: DictConfig) -> None:
    """The run's own keys and the Trainer's: types and ranges, and combinations."""
    for key, rule in RUN_RULES.items():
        check_value(key, get(cfg, key), rule)
    epochs, steps = get(cfg, "trainer.max_epochs"), get(cfg, "trainer.max_steps")
    if epochs == -1 and steps in (-1, ABSENT):
        raise ConfigError(
            "trainer.max_epochs=-1 with trainer.max_steps=-1 never stops (and the LR schedule "
            "needs a length); set trainer.max_epochs >= 1 or trainer.max_steps >= 1"
        )
    callbacks = get(cfg, "callbacks")
    if get(cfg, "trainer.enable_progress_bar") is False and isinstance(callbacks, dict):
        for name, entry in callbacks.items():
            target = entry.get("_target_", "") if isinstance(entry, dict) else ""
            if target.endswith("ProgressBar"):
                raise ConfigError(
                    f"trainer.enable_progress_bar=false, but callbacks.{name} is a progress bar; "
                    f"also remove it with ~callbacks.{name} (or keep the bar)"
                )


def _check_paths(cfg: DictConfig, data: dict[str, Any]) -> None:
    """The run's output folder, and the synthetic set's folder when it is still to be written."""
    output_dir = get(cfg, "paths.output_dir")
    if isinstance(output_dir, str):
        check_writable_dir(
            "paths.output_dir",
            Path(output_dir),
            "choose another folder with paths.log_dir=... or hydra.run.dir=...",
        )
    root = data.get("root")
    if (
        isinstance(root, str)
        and isinstance(data.get("synthetic"), dict)
        and not Path(root).exists()
    ):
        # the synthetic set is written there on first use
        check_writable_dir(
            "data.root",
            Path(root),
            "choose another folder with data.root=... or paths.data_dir=...",
        )


def _check_determinism(cfg: DictConfig, model: dict[str, Any]) -> None:
    """PyTorch has no deterministic max_unpool2d kernel (on CPU either): it raises at the first
    forward under ``torch.use_deterministic_algorithms(True)``."""
    from segkit.models.upsamplers import get_upsampler_class

    upsampler = model.get("upsampler")
    name = upsampler.get("name") if isinstance(upsampler, dict) else None
    if get(cfg, "trainer.deterministic") is True and get_upsampler_class(name).needs_indices:
        raise ConfigError(
            f"deterministic=true with model.upsampler.name={name}: PyTorch's max_unpool2d has "
            "no deterministic implementation and raises; use deterministic=warn (CPU runs are "
            "still repeatable: each pooled value has its own target index)"
        )


def check_train_config(cfg: DictConfig) -> None:
    """Check the composed ``train`` config cheaply, before anything heavy runs.

    Args:
        cfg: the config as ``segkit.training.run.run`` receives it (Hydra's node removed).

    Raises:
        ConfigError: a value of the wrong type or out of range, an unknown name, an impossible
            combination, or an output folder that cannot be written; one line naming the key,
            the value and the fix.
        FileNotFoundError, DataError: from the dataset reader's own checks (no devkit layout under
            ``data.root``, a missing or empty split list, listed files missing, a first training
            mask that is unreadable or outside the class list), with the reader's messages.
    """
    _check_run(cfg)
    data = _node(cfg, "data")
    spec, class_names = check_data_options(data)
    check_optim_options(_node(cfg, "optim"))
    check_loss_options(_node(cfg, "loss"), len(class_names) if class_names else None)
    _check_paths(cfg, data)
    # the parts below import torch
    from segkit.inference import InferenceConfig
    from segkit.metrics import check_boundary_options
    from segkit.models.fcn import check_model_options

    check_boundary_options(_node(cfg, "boundary"))
    model = _node(cfg, "model")
    synthetic = data.get("synthetic") if isinstance(data.get("synthetic"), dict) else {}
    sizes = {
        "data.crop_size": data.get("crop_size"),
        "data.val_size": data.get("val_size"),
        "data.synthetic.image_size": synthetic.get("image_size"),
    }
    check_model_options(model, sizes)
    if isinstance(model.get("upsampler"), dict):
        _check_determinism(cfg, model)
    inference = get(cfg, "inference")
    if isinstance(inference, dict):
        try:
            InferenceConfig.from_mapping({k: v for k, v in inference.items() if v is not None})
        except (TypeError, ValueError) as err:
            raise wrap("inference", inference, err) from None
    if "root" in data:
        check_dataset(data, spec, len(class_names) if class_names else None)
