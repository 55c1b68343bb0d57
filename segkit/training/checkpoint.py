"""Safe checkpoint loading: ``torch.load(weights_only=True)`` and one-line errors.

A Lightning checkpoint written by ``segkit-train`` holds only tensors, numbers, strings, lists and
dicts, so the weights-only unpickler (which refuses to build arbitrary objects or call functions)
reads it with no allow-list. A file that needs more is refused before anything in it runs.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from segkit.errors import CheckpointError
from segkit.io import atomic_write_bytes
from segkit.models.encoders import ENCODERS
from segkit.models.registry import plugin_package
from segkit.models.upsamplers import UPSAMPLERS
from segkit.training.task import SegTask


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint writing through a temporary file beside the target, then a rename.

    A process killed while saving leaves the previous checkpoint of that name intact (Lightning's
    own transaction writes the temporary file to the system temp dir, and moving it across
    filesystems is a copy that a kill can cut short).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getbuffer())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dictionary, read with the weights-only unpickler.

    Raises:
        CheckpointError: missing file, a pickle that wants to build objects or call code, a file
            that is not a PyTorch checkpoint, or one without segkit's hyperparameters.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass ckpt_path=<run dir>/checkpoints/<name>.ckpt"
        )
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (not a torch.save archive); "
            "expected a .ckpt written by segkit-train"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch names the offending global ("Unsupported global: GLOBAL pathlib.Path.touch ...")
        reason = next((line for line in lines if "Unsupported global" in line), None)
        reason = (reason or (lines[0] if lines else type(err).__name__)).split(
            " was not an allowed"
        )[0]
        raise CheckpointError(
            f"refused {path}: it holds objects a weights-only load does not build ({reason}); "
            "a segkit checkpoint never does, so this file is foreign or tampered with and was "
            "not loaded"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[0] if str(err).strip() else 'unreadable'}); "
            "expected a .ckpt written by segkit-train"
        ) from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if (
        not isinstance(hparams, dict)
        or not {"num_classes", "model"} <= hparams.keys()
        or "state_dict" not in checkpoint
    ):
        kind = type(checkpoint).__name__
        keys = sorted(checkpoint)[:6] if isinstance(checkpoint, dict) else []
        raise CheckpointError(
            f"{path} is a PyTorch file ({kind}{', keys ' + str(keys) if keys else ''}) but not a "
            "segkit checkpoint: expected 'state_dict' and 'hyper_parameters' with num_classes and "
            "model, as segkit-train writes"
        )
    _check_plugins(path, hparams["model"], checkpoint.get("segkit_plugins") or {})
    return checkpoint


def _check_plugins(path: Path, model: Any, recorded: dict[str, str]) -> None:
    """A plugin encoder or upsampler the checkpoint was trained with must be installed."""
    for kind, builtins in (("encoder", ENCODERS), ("upsampler", UPSAMPLERS)):
        spec = model.get(kind) if isinstance(model, dict) else None
        name = spec.get("name") if isinstance(spec, dict) else spec
        if (
            isinstance(name, str)
            and name in recorded
            and name not in builtins
            and plugin_package(kind, name) is None
        ):
            raise CheckpointError(
                f"{path} was trained with the {kind} {name!r} (model.{kind}.name) of the package "
                f"{recorded[name]}, which is not installed; pip install {recorded[name]}"
            )


def describe(hparams: dict[str, Any]) -> str:
    """``vgg + nearest (concat), 21 classes``: the network a checkpoint's hyperparameters describe."""
    model = hparams.get("model", {})
    encoder = model.get("encoder", "vgg")
    encoder = encoder.get("name", "?") if isinstance(encoder, dict) else encoder
    upsampler = model.get("upsampler", "nearest")
    upsampler = upsampler.get("name", "?") if isinstance(upsampler, dict) else upsampler
    return (
        f"{encoder} + {upsampler} ({model.get('fusion', 'concat')}), "
        f"{hparams['num_classes']} classes"
    )


def load_task(path: str | Path, **overrides: Any) -> tuple[SegTask, dict[str, Any]]:
    """Rebuild the task from a checkpoint's hyperparameters and load its weights (eval mode).

    Args:
        path: the ``.ckpt``.
        overrides: hyperparameters to replace (e.g. ``inference``), not the network's.

    Returns:
        The task and the checkpoint dictionary.

    Raises:
        CheckpointError: see :func:`read_checkpoint`; or weights that do not fit the network the
            hyperparameters describe.
    """
    checkpoint = read_checkpoint(path)
    hparams = {**checkpoint["hyper_parameters"], **overrides}
    try:
        task = SegTask(**hparams)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"{path}: its hyperparameters do not build a segkit network ({err})"
        ) from None
    # the network's weights must match; training-only state (the running train-loss mean, absent
    # from checkpoints of older segkit versions) is loaded when present
    state, own = checkpoint["state_dict"], task.state_dict()
    expected = {k for k in own if k.startswith("net.")}
    given = {k for k in state if k.startswith("net.")}
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    wrong = sorted(k for k in given & expected if state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        sample = (missing or unexpected or wrong)[0]
        raise CheckpointError(
            f"{path} was made for a different architecture than its hyperparameters describe "
            f"({describe(hparams)}): {len(missing)} missing, {len(unexpected)} unexpected and "
            f"{len(wrong)} mis-shaped weights (e.g. {sample}); re-train or use the matching segkit"
        )
    task.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    task.eval()
    return task, checkpoint
