"""Where the upsampler benchmark's time goes on this machine: data, step, threads, memory format.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295 \
        .venv/bin/python scripts/protocol_costs.py [--upsampler nearest] [--fusion none]

Composes ``experiment=upsampler_benchmark`` as ``segkit-train`` would and prints medians of:
a training batch read from disk (decode + transforms) and from memory (``data.in_memory``); the
training step with 1 and 2 threads, with and without ``channels_last``; one validation pass over
the val split. One job with 2 threads beats two jobs with 1 thread each only when its step is
less than half the 1-thread step. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from segkit.cli import CONFIG_DIR
from segkit.measure.harness import median, timed
from segkit.training.task import SegTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upsampler", default="nearest")
    parser.add_argument("--fusion", default="none")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    overrides = ["experiment=upsampler_benchmark", f"model/upsampler={args.upsampler}",
                 f"model.fusion={args.fusion}", "paths.output_dir=."]  # fmt: skip
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    cpu = torch.device("cpu")
    loaders = {}
    for in_memory in (False, True):
        dm = instantiate(cfg.data, seed=0, in_memory=in_memory)
        dm.prepare_data()
        dm.setup("fit")
        loaders[in_memory] = dm
    print(f"upsampler {args.upsampler}, fusion {args.fusion}, batch {cfg.data.batch_size}, "
          f"{cfg.data.crop_size}x{cfg.data.crop_size}, {torch.get_num_threads()} cores")  # fmt: skip
    for in_memory, dm in loaders.items():
        ds = dm.train_set
        n = cfg.data.batch_size

        def batch(ds=ds, n=n) -> None:
            for i in range(n):
                ds[i]

        label = "memory" if in_memory else "disk (decode)"
        print(
            f"  batch from {label:14s} {median(timed(batch, cpu, args.repeats, 2)) * 1e3:7.1f} ms"
        )
    dm = loaders[True]
    images, masks = _first_batch(dm)
    for channels_last in (False, True):
        task = SegTask(num_classes=dm.num_classes, class_names=list(dm.class_names),
                       model=OmegaConf.to_container(cfg.model, resolve=True),
                       optim=OmegaConf.to_container(cfg.optim, resolve=True),
                       loss=OmegaConf.to_container(cfg.loss, resolve=True),
                       channels_last=channels_last)  # fmt: skip
        opt = torch.optim.AdamW(task.parameters(), lr=1e-3)
        x = images.contiguous(memory_format=task.memory_format)

        def step(task=task, opt=opt, x=x) -> None:
            opt.zero_grad()
            task.compute_loss(task.net(x), masks).backward()
            opt.step()

        for threads in (1, 2):
            torch.set_num_threads(threads)
            ms = median(timed(step, cpu, args.repeats, 3)) * 1e3
            print(
                f"  train step, channels_last={channels_last!s:5s} {threads} thread(s) {ms:7.1f} ms"
            )
    torch.set_num_threads(1)
    val = dm.val_set
    task.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(val), cfg.data.val_batch_size):
            xs = torch.stack(
                [val[j][0] for j in range(i, min(i + cfg.data.val_batch_size, len(val)))]
            )
            task.net(xs.contiguous(memory_format=task.memory_format)).argmax(1)
    print(
        f"  one validation pass ({len(val)} images, 1 thread) {time.perf_counter() - start:.2f} s"
    )


def _first_batch(dm) -> tuple[torch.Tensor, torch.Tensor]:
    """The first training batch, through the DataModule's own loader."""
    return next(iter(dm.train_dataloader()))


if __name__ == "__main__":
    main()
