"""Measurements behind ``segkit-bench``: step and inference time, FLOPs, memory, overheads.

Every timing is a median over repeated steps after warm-up (on CUDA, CUDA events after a
synchronisation); comparisons that matter (Lightning against a bare loop) are interleaved in one
run so drift on a noisy machine hits both sides alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn`` for ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end) / 1000)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def step_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one call (torch.utils.flop_counter: convolutions and matrix products)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def conv_peak(device: torch.device, repeats: int = 10) -> dict[str, float]:
    """Throughput of a large 3x3 convolution, forward and backward: the machine's practical limit.

    64 -> 64 channels on 8 x 64 x 128 x 128, the shape class that dominates segmentation nets.
    """
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(8, 64, 128, 128, device=device, requires_grad=True)

    def step() -> None:
        conv(x).sum().backward()

    flops = step_flops(step)
    seconds = median(timed(step, device, repeats, warmup=2))
    return {"gflop": flops / 1e9, "seconds": seconds, "gflops_per_s": flops / seconds / 1e9}


@contextmanager
def saved_tensor_bytes(counter: dict[str, int], exclude: Iterable[torch.Tensor] = ()):
    """Count the bytes autograd saves for backward inside the block (each storage once).

    Storages of ``exclude`` (weights, inputs that exist anyway) are not counted.
    """
    seen: set[int] = {t.untyped_storage().data_ptr() for t in exclude}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            counter["bytes"] = counter.get("bytes", 0) + t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield counter


def decoder_memory(net: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Bytes of new activations the decoder keeps for backward (not its weights or its inputs),
    and bytes of pooling indices passed to it."""
    deep, skips = net.encoder(x)
    counter: dict[str, int] = {}
    alive = [*net.decoder.parameters(), deep]
    alive += [t for s in skips for t in (s.feature, s.indices) if t is not None]
    with saved_tensor_bytes(counter, exclude=alive):  # new activations only
        net.decoder(deep, skips)
    indices = sum(s.indices.nbytes for s in skips if getattr(s, "indices", None) is not None)
    return {"decoder_saved_bytes": counter.get("bytes", 0), "index_bytes": int(indices)}


RSS_WORKER = """
import json, sys, torch
import torch.nn.functional as F
spec = json.loads(sys.argv[1])
from segkit.models import build_model

def status(key):  # this process's own memory; ru_maxrss would carry the parent's over from fork
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

torch.manual_seed(0)
base = status("VmRSS")
net = build_model(spec["num_classes"], **spec["model"])
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(spec["batch"], 3, spec["size"], spec["size"])
y = torch.randint(0, spec["num_classes"], (spec["batch"], spec["size"], spec["size"]))
for _ in range(3):
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
print(json.dumps({"peak_rss_bytes": status("VmHWM"), "import_rss_bytes": base}))
"""


def cpu_peak_rss(model: dict[str, Any], num_classes: int, batch: int, size: int) -> dict[str, int]:
    """Peak RSS (VmHWM) of a fresh process that builds the network and runs 3 training steps, and
    its RSS after importing torch and segkit (Linux ``/proc``)."""
    spec = json.dumps({"model": model, "num_classes": num_classes, "batch": batch, "size": size})
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WORKER, spec], capture_output=True, text=True, check=True,
        env={**os.environ},
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def help_seconds(repeats: int = 3) -> float:
    """Median wall time of ``segkit-train --help`` in a fresh interpreter (CLI start-up cost)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "segkit.cli.train", "--help"], capture_output=True,
                       check=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return median(times)


def bare_step(net: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, loss_fn: Callable,
              batch: tuple[torch.Tensor, torch.Tensor]) -> None:  # fmt: skip
    """One plain PyTorch training step, doing what Lightning's automatic optimisation does."""
    images, masks = batch
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(net(images), masks)
    loss.backward()
    optimizer.step()
    scheduler.step()
