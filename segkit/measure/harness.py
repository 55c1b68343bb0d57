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
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def sweep_values(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each parameter of a Hydra sweeper's ``params`` and the values it sweeps (as the basic
    sweeper expands them: comma lists, ``range(...)``, ``choice(...)``); the sweep's runs are the
    product of the list lengths."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return {
        o.get_key_element(): list(o.sweep_string_iterator())
        if o.is_sweep_override()
        else [o.get_value_element_as_str()]
        for o in parsed
    }


def run_schedule(num_train: int, batch_size: int, max_epochs: int, max_steps: int | None,
                 val_check_interval: float | int, check_val_every_n_epoch: int = 1
                 ) -> dict[str, int]:  # fmt: skip
    """Training steps and validations of one run, as Lightning schedules them.

    Steps: ``max_epochs`` x floor(``num_train`` / ``batch_size``), or ``max_steps`` where that is
    set and sooner. Validations: every ``val_check_interval`` (a fraction of an epoch, or a number
    of steps) within each epoch, in every ``check_val_every_n_epoch``-th epoch.
    """
    batches = num_train // batch_size
    if batches < 1:
        raise ValueError(f"num_train {num_train} < batch size {batch_size}: no training step")
    by_epochs = max_epochs * batches if max_epochs is not None and max_epochs >= 0 else None
    by_steps = max_steps if max_steps is not None and max_steps >= 0 else None
    if by_epochs is None and by_steps is None:
        raise ValueError("trainer.max_epochs and trainer.max_steps are both unlimited")
    steps = min(s for s in (by_epochs, by_steps) if s is not None)
    if isinstance(val_check_interval, float) and val_check_interval <= 1.0:
        every = max(1, int(batches * val_check_interval))
    else:
        every = int(val_check_interval)
    per_epoch = batches // every
    full, rest = divmod(steps, batches)
    n = max(1, check_val_every_n_epoch or 1)
    validations = (full // n) * per_epoch + (rest // every if full % n == n - 1 else 0)
    return {"steps": steps, "batches_per_epoch": batches, "validations": validations}


def run_seconds(startup_s: float, steps: int, step_s: float, validations: int,
                val_batches: float, val_batch_s: float) -> float:  # fmt: skip
    """Estimated wall time of one training run: start-up + its steps + its validations."""
    return startup_s + steps * step_s + validations * val_batches * val_batch_s


def sweep_wall_seconds(run_s: Mapping[str, float], sweep_upsamplers: Sequence[str], runs: int,
                       jobs: int) -> float:  # fmt: skip
    """Wall time of a sweep of ``runs`` runs spread evenly over ``sweep_upsamplers``, ``jobs`` at a
    time: the sum of the run times over ``jobs``. An upsampler not in ``run_s`` counts as the mean
    of those that are."""
    mean = statistics.fmean(run_s.values())
    per_upsampler = runs / len(sweep_upsamplers)
    return per_upsampler * sum(run_s.get(u, mean) for u in sweep_upsamplers) / max(1, jobs)
