"""Export a checkpoint's network (Hydra CLI ``segkit-export``).

    segkit-export ckpt_path=<run>/checkpoints/last.ckpt                  # ONNX, opset 18
    segkit-export ckpt_path=... format=torchscript output=model.ts.pt

The file is written only after the exported model, run by its runtime, matched eager PyTorch on
random inputs of every ``check_sizes`` entry: every logit within ``atol + rtol * |logit|``, but
for a ``max_mismatch`` share (max-unpool's near-tied maxima may resolve to another cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from segkit.cli import CONFIG_DIR, exit_with_one_line
from segkit.errors import UserError


def run(cfg: DictConfig) -> dict[str, Any]:
    from segkit.export import SUFFIX, export
    from segkit.training.checkpoint import describe, load_task

    task, _ = load_task(cfg.ckpt_path)
    ckpt = Path(cfg.ckpt_path)
    suffix = SUFFIX.get(str(cfg.format), "")
    output = Path(cfg.output) if cfg.output else ckpt.with_name(ckpt.stem + suffix)
    result = export(
        task.net, output, format=str(cfg.format), opset=int(cfg.opset), dynamic=bool(cfg.dynamic),
        check_sizes=[list(s) for s in cfg.check_sizes], check_batch=int(cfg.check_batch),
        atol=float(cfg.atol), rtol=float(cfg.rtol), max_mismatch=float(cfg.max_mismatch),
    )  # fmt: skip
    checks = ", ".join(
        f"{'x'.join(map(str, shape[2:]))}: {diff:.1e}"
        for shape, diff in zip(result["inputs"], result["max_abs_diff"], strict=True)
    )
    print(f"{describe(task.hparams)} -> {result['output']} ({result['format']}); "
          f"max abs diff to PyTorch {checks}; {result['mismatch']:.3%} of logits outside "
          f"tolerance, {result['label_flips']} labels differ")  # fmt: skip
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except UserError as err:
        raise exit_with_one_line("segkit-export", err) from None


if __name__ == "__main__":
    main()
