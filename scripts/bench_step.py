"""Median CPU training-step time of the default network, for A/B runs of environment settings.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295 \
        .venv/bin/python scripts/bench_step.py
    env -u GLIBC_TUNABLES .venv/bin/python scripts/bench_step.py

Runs 25 SGD steps (batch 16, 96x96, 21 classes) of the default model and prints the median of the
last 20, so the allocator setting (or any other environment change) can be compared side by side
(`segkit-bench` measures everything else).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from segkit.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upsampler", default="nearest")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(
        21,
        encoder={"name": "vgg", "widths": [16, 32, 64, 128, 256]},
        upsampler=args.upsampler,
        fusion="concat",
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 21, (args.batch, args.size, args.size))
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times[5:])
    tunables = "set" if os.environ.get("GLIBC_TUNABLES") else "unset"
    print(
        f"GLIBC_TUNABLES {tunables}: median step {median * 1000:.0f} ms, {args.batch / median:.1f} img/s"
    )


if __name__ == "__main__":
    main()
