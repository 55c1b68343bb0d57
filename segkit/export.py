"""Export a network to ONNX (dynamo exporter) or TorchScript, checked against eager PyTorch.

Each export is written to a temporary file beside its destination, loaded back by its runtime
(onnxruntime / ``torch.jit.load``), compared with the eager network on random inputs of every
checked size, and only then renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from segkit.errors import ExportError
from segkit.io import umask

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts.pt"}


# what format=onnx imports: the exporter's graph library, the dynamo exporter, the parity runtime
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


def _need(module: str, extra: str = "export") -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise ExportError(
            f"format=onnx needs the {module} package: pip install -e '.[{extra}]' "
            f"(installs {', '.join(ONNX_PACKAGES)})"
        ) from None


def _inputs(sizes: Sequence[Sequence[int]], batch: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, int(h), int(w), generator=generator) for h, w in sizes]


def export_onnx(
    net: nn.Module, path: Path, opset: int, dynamic: bool, example: torch.Tensor
) -> None:
    """ONNX through ``torch.onnx.export(dynamo=True)``; batch, height and width dynamic."""
    _need("onnxscript")
    dynamic_shapes = None
    if dynamic:
        dim = torch.export.Dim.DYNAMIC
        dynamic_shapes = ({0: dim, 2: dim, 3: dim},)  # by position: the one input
    program = torch.onnx.export(
        net, (example,), dynamo=True, opset_version=opset, input_names=["images"],
        output_names=["logits"], dynamic_shapes=dynamic_shapes, verbose=False,
    )  # fmt: skip
    program.save(str(path))


def run_onnx(path: Path, x: torch.Tensor) -> torch.Tensor:
    _need("onnxruntime")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return torch.from_numpy(out)


def export_torchscript(net: nn.Module, path: Path, example: torch.Tensor) -> str:
    """``torch.jit.script`` where the network scripts, else ``torch.jit.trace``; returns which."""
    try:
        module, how = torch.jit.script(net), "script"
    except Exception:
        module, how = torch.jit.trace(net, example, check_trace=False), "trace"
    torch.jit.save(module, str(path))
    return how


def export(
    net: nn.Module,
    output: Path,
    format: str = "onnx",
    opset: int = 18,
    dynamic: bool = True,
    check_sizes: Sequence[Sequence[int]] = ((64, 96), (75, 53)),
    check_batch: int = 2,
    atol: float = 1e-4,
    rtol: float = 1e-5,
    max_mismatch: float = 1e-3,
) -> dict[str, object]:
    """Export ``net`` (eval mode) and verify it; returns what was checked.

    Raises:
        ExportError: unknown format, missing runtime, export failure, or more than a
            ``max_mismatch`` share of logits differing from eager PyTorch's by more than
            ``atol + rtol * |logit|`` (as ``numpy.isclose``); nothing is written then. The budget
            exists for max-unpool: a near-tie in a pooling window can resolve to the other cell in
            another runtime's kernels, which moves that one value by a pixel.
    """
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "onnx" and opset < 18:
        raise ExportError(f"opset must be >= 18 for the dynamo exporter, got {opset}")
    if format == "onnx":  # all of them before any work, not one by one as each step needs it
        for module in ONNX_PACKAGES:
            _need(module)
    net = net.eval()
    inputs = _inputs(check_sizes, check_batch)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad():
            if format == "onnx":
                try:
                    export_onnx(net, tmp, opset, dynamic, inputs[0])
                except ExportError:
                    raise
                except Exception as err:
                    raise ExportError(
                        f"ONNX export failed: {type(err).__name__}: {str(err).splitlines()[0]}"
                    ) from None
                how = f"onnx opset {opset}"
                loaded = lambda x: run_onnx(tmp, x)  # noqa: E731
            else:
                try:
                    how = "torchscript " + export_torchscript(net, tmp, inputs[0])
                except Exception as err:
                    raise ExportError(
                        "this network neither scripts nor traces to TorchScript "
                        f"({type(err).__name__}: {str(err).splitlines()[0]}); use format=onnx"
                    ) from None
                module = torch.jit.load(str(tmp))
                loaded = module
            if not dynamic:  # a static graph only takes the example's shape
                inputs = inputs[:1]
            diffs, outside, total, label_flips, pixels = [], 0, 0, 0, 0
            for x in inputs:
                want = net(x)
                try:
                    got = loaded(x)
                except Exception as err:
                    raise ExportError(
                        f"{how}: the exported model fails on input {tuple(x.shape)} "
                        f"({type(err).__name__}: {str(err).strip().splitlines()[0][:200]})"
                    ) from None
                if tuple(got.shape) != tuple(want.shape):
                    raise ExportError(
                        f"{how}: output {tuple(got.shape)} for input {tuple(x.shape)}, eager PyTorch "
                        f"gives {tuple(want.shape)}"
                    )
                diff = (got - want).abs()  # (B, C, H, W)
                diffs.append(float(diff.max()))
                outside += int((diff > atol + rtol * want.abs()).sum())
                total += diff.numel()
                label_flips += int((got.argmax(1) != want.argmax(1)).sum())
                pixels += want.shape[0] * want.shape[-2] * want.shape[-1]
        share = outside / total
        if share > max_mismatch:
            raise ExportError(
                f"{how}: {share:.2%} of logits differ from eager PyTorch by more than atol "
                f"{atol:.0e} + rtol {rtol:.0e} * |logit| (max abs difference {max(diffs):.2e}; "
                f"{label_flips} of {pixels} predicted labels differ); allowed: "
                f"max_mismatch={max_mismatch:g}"
            )
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 -> what open() would have given
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
        for extra in tmp.parent.glob(tmp.name + ".data"):
            extra.unlink(missing_ok=True)
    sizes = [list(x.shape) for x in inputs]
    return {"output": str(output), "format": how, "inputs": sizes, "max_abs_diff": diffs,
            "mismatch": share, "label_flips": label_flips}  # fmt: skip
