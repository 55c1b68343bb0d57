"""Benchmark the upsamplers on this device (Hydra CLI ``segkit-bench``; ``make bench``).

Per registered upsampler: training step and inference time and images/s, FLOPs per step and the
achieved GFLOP/s as a share of a large 3x3 convolution's throughput measured by the same harness,
peak memory, the bytes the decoder keeps for backward and passes as pooling indices, parameters,
and the Lightning step against a bare PyTorch loop (interleaved). Once: the data loader's rate
against the step's consumption, the val metric update's share of a step, options (channels_last,
autocast precisions, torch.compile) where they run, and ``segkit-train --help`` start-up time.
With ``protocol.enabled``: the runs/hour of the protocol sweep (``protocol.experiment``) on this
device, from each upsampler x fusion's step and val-batch time at the protocol's settings.
Writes ``bench.json``, ``bench.md`` and ``bench.png``.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from segkit.cli import CONFIG_DIR, exit_with_one_line


class _FixedBatches:
    """A map-style dataset yielding the same batch ``length`` times (``batch_size=None`` loader)."""

    def __init__(self, batch: tuple[Any, Any], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.batch


def _lightning_vs_bare(task, batch, device, steps: int, warmup: int, rounds: int) -> dict[str, Any]:
    """Median step time of ``Trainer.fit`` and of a bare loop on the same batches, interleaved."""
    import lightning as L
    from torch.utils.data import DataLoader

    from segkit.measure.callbacks import TrainSpeed
    from segkit.measure.harness import bare_step, median, sync

    n = steps + warmup
    loader = DataLoader(_FixedBatches(batch, n), batch_size=None)
    lightning, bare = [], []
    for round_ in range(rounds + 1):  # round 0 warms both paths up and is not counted
        # as the bare loop, each interval ends when the step's work is done (GPU synchronised)
        timer = TrainSpeed(synchronize=True)
        trainer = L.Trainer(
            accelerator=device.type, devices=1, max_steps=n, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0, callbacks=[timer],
        )  # fmt: skip
        task.train()
        trainer.fit(task, train_dataloaders=loader)
        lightning.append(median(timer.intervals[max(warmup - 1, 0) :]))

        task.to(device).train()
        optimizer, scheduler = task.build_optimizer(10**6)
        times, last = [], None
        for images, masks in loader:
            bare_step(
                task, optimizer, scheduler, task.compute_loss, (images.to(device), masks.to(device))
            )
            sync(device)
            now = time.perf_counter()
            if last is not None:
                times.append(now - last)
            last = now
        bare.append(median(times[max(warmup - 1, 0) :]))
        if round_ == 0:
            lightning.pop()
            bare.pop()
    ratios = [a / b for a, b in zip(lightning, bare, strict=True)]
    return {"lightning_step_s": median(lightning), "bare_step_s": median(bare),
            "lightning_overhead_ratio": median(ratios), "ratios": ratios}  # fmt: skip


def _bench_task(cfg: DictConfig, datamodule, batch, device, model: dict[str, Any] | None = None,
                precision: str | None = None, **options: Any):  # fmt: skip
    """The task of ``cfg`` (or ``model``) on ``device`` and a closure running one bare training
    step on ``batch`` (under autocast for a mixed ``precision``)."""
    import torch

    from segkit.measure.harness import bare_step
    from segkit.training.task import SegTask

    task = SegTask(
        num_classes=datamodule.num_classes, class_names=list(datamodule.class_names),
        model=model or OmegaConf.to_container(cfg.model, resolve=True),
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        loss=OmegaConf.to_container(cfg.loss, resolve=True), **options,
    ).to(device)  # fmt: skip
    images, masks = batch[0].to(device), batch[1].to(device)
    optimizer, scheduler = task.build_optimizer(10**6)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision or "")

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            bare_step(task, optimizer, scheduler, task.compute_loss, (images, masks))

    return task, step


def _upsampler_row(cfg: DictConfig, name: str, datamodule, batch, device, peak) -> dict[str, Any]:
    import torch

    from segkit.measure.flops import count_params
    from segkit.measure.harness import cpu_peak_rss, decoder_memory, median, step_flops, timed

    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["upsampler"] = {"name": name}
    task, train_step = _bench_task(cfg, datamodule, batch, device, model=model)
    images = batch[0].to(device)

    if device.type == "cuda":  # what this configuration adds on top of what is already allocated
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        allocated = torch.cuda.memory_allocated(device)
    step_s = median(timed(train_step, device, cfg.steps, cfg.warmup))
    flops = step_flops(train_step)
    row: dict[str, Any] = {"upsampler": name, "params": count_params(task.net)}
    if device.type == "cuda":
        row["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device) - allocated
    else:  # a fresh process: peak RSS of training minus what importing torch and segkit took
        rss = cpu_peak_rss(model, datamodule.num_classes, images.shape[0], images.shape[-1])
        row["peak_memory_bytes"] = rss["peak_rss_bytes"] - rss["import_rss_bytes"]
        row["import_rss_bytes"] = rss["import_rss_bytes"]
    row.update(decoder_memory(task.net, images))
    task.eval()
    with torch.inference_mode():
        infer_s = median(timed(lambda: task.net(images), device, cfg.steps, cfg.warmup))
    batch_size = images.shape[0]
    row.update({
        "batch": batch_size, "size": list(images.shape[-2:]), "train_step_s": step_s,
        "train_images_per_s": batch_size / step_s, "gflop_per_step": flops / 1e9,
        "gflops_per_s": flops / step_s / 1e9, "conv_peak_fraction": flops / step_s / 1e9 / peak,
        "inference_s": infer_s, "inference_images_per_s": batch_size / infer_s,
    })  # fmt: skip
    row.update(_lightning_vs_bare(task, batch, device, cfg.steps, cfg.warmup, cfg.rounds))
    return row


def _option_step_s(cfg: DictConfig, datamodule, batch, device, kwargs: dict[str, Any],
                   precision: str | None) -> float:  # fmt: skip
    """Median training step of the configured model with task options and autocast precision."""
    from segkit.measure.harness import median, timed

    _, step = _bench_task(cfg, datamodule, batch, device, precision=precision, **kwargs)
    return median(timed(step, device, max(3, cfg.steps // 2), cfg.warmup))


def _options(cfg: DictConfig, datamodule, batch, device) -> list[dict[str, Any]]:
    """Step time of the configured model under each option that runs here, vs its fp32 step."""
    wanted: list[tuple[str, dict[str, Any], str | None]] = []
    if cfg.options.channels_last:
        wanted.append(("channels_last", {"channels_last": True}, None))
    for precision in cfg.options.precision or []:
        wanted.append((f"precision={precision}", {}, str(precision)))
    compile_on = cfg.options.compile is True or (
        cfg.options.compile == "auto" and device.type == "cuda"
    )
    if compile_on:
        wanted.append(("compile", {"compile": True}, None))
    rows = []
    baseline_s = _option_step_s(cfg, datamodule, batch, device, {}, None)  # same config, fp32
    for label, kwargs, precision in wanted:
        try:
            seconds = _option_step_s(cfg, datamodule, batch, device, kwargs, precision)
            rows.append({"option": label, "train_step_s": seconds, "vs_fp32": seconds / baseline_s})
        except Exception as err:
            rows.append(
                {
                    "option": label,
                    "error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}",
                }
            )
    return rows


def _loader_and_metrics(
    datamodule, batch, device, step_s: float, cfg: DictConfig
) -> dict[str, Any]:
    import torch

    from segkit.measure.harness import median, timed
    from segkit.metrics import BoundaryIoU, SegMetrics

    loader = datamodule.train_dataloader()
    it = iter(loader)
    next(it)  # worker start-up
    t0 = time.perf_counter()
    count = 0
    for _ in range(cfg.loader_batches):
        try:
            images, _ = next(it)
        except StopIteration:
            break
        count += images.shape[0]
    loader_rate = count / (time.perf_counter() - t0)
    step_rate = batch[0].shape[0] / step_s
    masks = batch[1].to(device)
    # a near-correct prediction (the truth one pixel to the right), as a trained model gives
    preds = torch.roll(torch.where(masks == 255, 0, masks), shifts=1, dims=-1)
    confmat = SegMetrics(datamodule.num_classes).to(device)
    boundary = BoundaryIoU(datamodule.num_classes).to(device)
    confmat_s = median(timed(lambda: confmat.update(preds, masks), device, cfg.steps, 2))
    boundary_s = median(timed(lambda: boundary.update(preds, masks), device, cfg.steps, 2))
    return {
        "loader_images_per_s": loader_rate, "loader_workers": datamodule.num_workers,
        "step_images_per_s": step_rate, "loader_to_step_ratio": loader_rate / step_rate,
        "confmat_update_s": confmat_s, "boundary_update_s": boundary_s,
        "metric_share_of_step": (confmat_s + boundary_s) / step_s,
        "confmat_share_of_step": confmat_s / step_s,
    }  # fmt: skip


def _compose_protocol(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The train config of the protocol (``experiment=<protocol.experiment>`` plus ``overrides``),
    composed as ``segkit-train`` would, with its ``hydra`` node (launcher, sweeper)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    overrides = [f"experiment={cfg.protocol.experiment}", *map(str, cfg.protocol.overrides or []),
                 *overrides]  # fmt: skip
    try:
        if GlobalHydra.instance().is_initialized():  # inside segkit-bench's own @hydra.main
            return compose("train", overrides=overrides, return_hydra_config=True)
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=True)
    except HydraException as err:
        raise ValueError(
            f"protocol: cannot compose train.yaml with {overrides}: {(str(err).splitlines() or [type(err).__name__])[0]} "
            "(set protocol.enabled=false to skip the protocol estimate)"
        ) from None


def _protocol(cfg: DictConfig, names: list[str], device) -> dict[str, Any]:
    """Runs/hour of the protocol sweep (``protocol.experiment``) on this device, estimated from
    the step and val-batch times of each upsampler x fusion at the protocol's settings."""
    import math
    import os
    from functools import partial

    import torch
    from hydra.utils import instantiate

    from segkit.measure.harness import (
        median,
        run_schedule,
        run_seconds,
        sweep_values,
        sweep_wall_seconds,
        timed,
    )

    base = _compose_protocol(cfg, [])
    sweep = sweep_values(base.hydra.sweeper.get("params") or {})
    runs = math.prod(len(v) for v in sweep.values())
    sweep_upsamplers = sweep.get("model/upsampler") or [str(base.model.upsampler.name)]
    jobs = int(base.hydra.launcher.get("n_jobs") or 1)
    cores = os.cpu_count() or 1
    if jobs < 0:  # joblib: -1 is every core, -2 all but one, ...
        jobs = max(1, cores + 1 + jobs)
    data = base.data
    if data.get("synthetic") is None:
        raise ValueError("protocol: the estimate needs data.synthetic (num_train, num_val)")
    datamodule = instantiate(data)  # the class list; touches no files
    num_train, num_val = int(data.synthetic.num_train), int(data.synthetic.num_val)
    batch_size, val_batch_size = int(data.batch_size), int(data.val_batch_size)
    size = int(data.crop_size)
    val_size = int(data.synthetic.get("image_size") or size)
    trainer = base.trainer
    schedule = run_schedule(num_train, batch_size, int(trainer.max_epochs), trainer.get("max_steps"),
                            trainer.get("val_check_interval") or 1.0,
                            trainer.get("check_val_every_n_epoch") or 1)  # fmt: skip
    val_batches = num_val / val_batch_size
    threads = int(base.threads) if base.get("threads") else torch.get_num_threads()
    startup_s = float(cfg.protocol.startup_s)

    generator = torch.Generator().manual_seed(0)
    classes = datamodule.num_classes

    def random_batch(n: int, side: int):
        images = torch.randn(n, 3, side, side, generator=generator)
        return images, torch.randint(0, classes, (n, side, side), generator=generator)

    batch, val_images = random_batch(batch_size, size), random_batch(val_batch_size, val_size)[0]
    val_images = val_images.to(device)
    steps, val_repeats = int(cfg.protocol.steps), max(1, int(cfg.protocol.steps) // 3)
    previous_threads = torch.get_num_threads()
    rows = []
    torch.set_num_threads(threads)
    try:
        for name in names:
            # the upsampler's own config group, as the sweep's model/upsampler=<name> sets it
            group = Path(CONFIG_DIR, "model", "upsampler", f"{name}.yaml").is_file()
            composed = _compose_protocol(cfg, [f"model/upsampler={name}"]) if group else base
            for fusion in cfg.protocol.fusion:
                model = OmegaConf.to_container(composed.model, resolve=True)
                model["fusion"] = str(fusion)
                if not group:
                    model["upsampler"] = {"name": name}
                task, train_step = _bench_task(composed, datamodule, batch, device, model=model,
                                               channels_last=bool(base.channels_last))  # fmt: skip
                step_s = median(timed(train_step, device, steps, cfg.warmup))
                task.eval()
                with torch.inference_mode():  # as Lightning's validation loop
                    val_s = median(timed(partial(task.infer, val_images), device, val_repeats, 1))
                run_s = run_seconds(startup_s, schedule["steps"], step_s, schedule["validations"],
                                    val_batches, val_s)  # fmt: skip
                rows.append({"upsampler": name, "fusion": str(fusion), "step_ms": 1000 * step_s,
                             "val_batch_ms": 1000 * val_s, "run_s": run_s})  # fmt: skip
    finally:
        torch.set_num_threads(previous_threads)

    per_hour, wall_min = {}, {}
    for fusion in map(str, cfg.protocol.fusion):
        run_s = {r["upsampler"]: r["run_s"] for r in rows if r["fusion"] == fusion}
        wall_s = sweep_wall_seconds(run_s, sweep_upsamplers, runs, jobs)
        per_hour[fusion], wall_min[fusion] = runs / wall_s * 3600, wall_s / 60
    shared = device.type == "cpu" and jobs > 1
    return {
        "experiment": str(cfg.protocol.experiment),
        "device": device.type,
        "cpu_count": cores,
        "jobs": jobs,
        "threads": threads,
        "runs": runs,
        "sweep": sweep,
        "sweep_upsamplers_not_measured": [u for u in sweep_upsamplers if u not in names],
        "batch_size": batch_size,
        "image_size": size,
        "val_image_size": val_size,
        "widths": list(base.model.encoder.widths),
        "channels_last": bool(base.channels_last),
        "num_train": num_train,
        "num_val": num_val,
        "val_batch_size": val_batch_size,
        "val_batches": val_batches,
        "steps_per_run": schedule["steps"],
        "validations_per_run": schedule["validations"],
        "startup_s": startup_s,
        "measured_steps": steps,
        "jobs_share_machine": shared,
        "rows": rows,
        "runs_per_hour": per_hour,
        "wall_min": wall_min,
    }


def _protocol_line(p: dict[str, Any]) -> str:
    """The protocol's runs/hour in one line (printed, and under the table in bench.md)."""
    rates = ", ".join(
        f"{p['runs_per_hour'][f]:.1f} runs/hour with fusion={f} ({p['wall_min'][f]:.0f} min)"
        for f in p["runs_per_hour"]
    )
    line = (
        f"protocol experiment={p['experiment']}: {rates} for its {p['runs']} runs, {p['jobs']} "
        f"jobs x {p['threads']} thread(s) on {p['cpu_count']} cores"
    )
    if p["jobs_share_machine"]:
        line += (
            "; each job's step was timed alone, an optimistic bound while the other job(s) run "
            "beside it on the same CPU"
        )
    if p["sweep_upsamplers_not_measured"]:
        line += (
            f"; not measured, counted as the mean: {', '.join(p['sweep_upsamplers_not_measured'])}"
        )
    return line


def _markdown(result: dict[str, Any]) -> str:
    mb = 1024 * 1024
    lines = [
        f"# segkit-bench on {result['device']}",
        "",
        f"torch {result['torch']}, {result['threads']} threads, batch {result['rows'][0]['batch']} of "
        f"{'x'.join(map(str, result['rows'][0]['size']))}, fp32; conv peak (3x3, 64->64, fwd+bwd) "
        f"{result['conv_peak']['gflops_per_s']:.1f} GFLOP/s. Medians after warm-up.",
        "",
        "| upsampler | params | GFLOP/step | train step (ms) | train img/s | GFLOP/s | % of conv peak "
        "| inference (ms) | infer img/s | peak memory (MB) | decoder saved (MB) | indices (MB) "
        "| Lightning / bare |",
        "|---|" + "---|" * 12,
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['upsampler']} | {r['params']:,} | {r['gflop_per_step']:.2f} | "
            f"{1000 * r['train_step_s']:.0f} | {r['train_images_per_s']:.1f} | {r['gflops_per_s']:.1f} | "
            f"{100 * r['conv_peak_fraction']:.0f}% | {1000 * r['inference_s']:.0f} | "
            f"{r['inference_images_per_s']:.1f} | {r['peak_memory_bytes'] / mb:.0f} | "
            f"{r['decoder_saved_bytes'] / mb:.1f} | {r['index_bytes'] / mb:.2f} | "
            f"{r['lightning_overhead_ratio']:.3f} |"
        )
    lines += ["", "| option (default upsampler) | train step (ms) | vs fp32 |", "|---|---|---|"]
    for o in result["options"]:
        if "error" in o:
            lines.append(f"| {o['option']} | does not run here: {o['error']} | |")
        else:
            lines.append(
                f"| {o['option']} | {1000 * o['train_step_s']:.0f} | {o['vs_fp32']:.2f}x |"
            )
    t = result
    lines += [
        "",
        "| target | measured | goal |",
        "|---|---|---|",
        f"| Lightning step / bare loop | {t['lightning_overhead_ratio']:.3f} | <= 1.02 |",
        f"| default step / conv peak | {100 * t['conv_peak_fraction']:.0f}% | >= 75% |",
        f"| loader / step consumption ({t['loader']['loader_workers']} workers) | "
        f"{t['loader_to_step_ratio']:.2f}x | >= 2x |",
        f"| val metric update / step | {100 * t['metric_share_of_step']:.2f}% "
        f"(confusion matrix {100 * t['loader']['confmat_share_of_step']:.2f}%) | <= 1% |",
        f"| `segkit-train --help` | {t['help_seconds']:.2f} s | |",
    ]
    p = result.get("protocol")
    if p:
        lines += [
            "",
            f"Protocol `experiment={p['experiment']}` on {p['device']}: batch {p['batch_size']} of "
            f"{p['image_size']}x{p['image_size']}, widths {p['widths']}, channels_last "
            f"{str(p['channels_last']).lower()}, {p['threads']} thread(s); per run "
            f"{p['steps_per_run']} steps and {p['validations_per_run']} validations of "
            f"{p['num_val']} images (batch {p['val_batch_size']}), start-up {p['startup_s']:g} s. "
            f"Run = start-up + steps x step + validations x {p['val_batches']:g} val batches x val "
            "batch.",
            "",
            "| upsampler | fusion | train step (ms) | val batch (ms) | run (s) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['upsampler']} | {r['fusion']} | {r['step_ms']:.1f} | {r['val_batch_ms']:.1f} | "
            f"{r['run_s']:.1f} |"
            for r in p["rows"]
        ]
        lines += ["", _protocol_line(p)]
    return "\n".join(lines) + "\n"


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from segkit.compare.figures import STYLE, save_png

    rows = result["rows"]
    names = [r["upsampler"] for r in rows]
    x = np.arange(len(names))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.0))
        axes[0].bar(x - 0.2, [r["train_images_per_s"] for r in rows], 0.4, label="train")
        axes[0].bar(x + 0.2, [r["inference_images_per_s"] for r in rows], 0.4, label="inference")
        axes[0].set_title("images / s")
        axes[0].legend(frameon=False, fontsize=7)
        axes[1].bar(x, [100 * r["conv_peak_fraction"] for r in rows], color="tab:green")
        axes[1].axhline(75, color="grey", ls="--", lw=1)
        axes[1].set_title("training GFLOP/s, % of conv peak")
        mb = 1024 * 1024
        axes[2].bar(
            x - 0.2,
            [r["decoder_saved_bytes"] / mb for r in rows],
            0.4,
            label="decoder saved for backward",
        )
        axes[2].bar(x + 0.2, [r["index_bytes"] / mb for r in rows], 0.4, label="pooling indices")
        axes[2].set_title("memory per step (MB)")
        axes[2].legend(frameon=False, fontsize=7)
        for ax in axes:
            ax.set_xticks(x, names, rotation=30, ha="right")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"segkit-bench, {result['device']}", fontsize=9)
        fig.tight_layout()
        save_png(fig, path)


def run(cfg: DictConfig) -> dict[str, Any]:
    import platform

    import torch
    from hydra.utils import instantiate

    from segkit.io import atomic_write_text, write_json
    from segkit.measure.harness import conv_peak, help_seconds
    from segkit.models import UPSAMPLERS

    device_name = (
        cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    device = torch.device(device_name)
    names = list(cfg.upsamplers or UPSAMPLERS)
    unknown = [n for n in names if n not in UPSAMPLERS]
    if unknown:
        raise ValueError(f"upsamplers: unknown {unknown}; registered: {', '.join(UPSAMPLERS)}")
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    torch.manual_seed(0)
    batch = next(iter(datamodule.train_dataloader()))
    peak = conv_peak(device)
    rows = [_upsampler_row(cfg, n, datamodule, batch, device, peak["gflops_per_s"]) for n in names]
    default = rows[0]
    loader = _loader_and_metrics(datamodule, batch, device, default["train_step_s"], cfg)
    described = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (
            f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    )
    result = {
        "device": described,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "conv_peak": peak,
        "rows": rows,
        "options": _options(cfg, datamodule, batch, device),
        "loader": loader,
        # the figures the targets are judged on, for the default (first) upsampler
        "lightning_overhead_ratio": default["lightning_overhead_ratio"],
        "conv_peak_fraction": default["conv_peak_fraction"],
        "loader_to_step_ratio": loader["loader_to_step_ratio"],
        "metric_share_of_step": loader["metric_share_of_step"],
        "help_seconds": help_seconds(),
    }
    if cfg.protocol.enabled:
        protocol = _protocol(cfg, names, device)
        result["protocol"] = protocol
        result["protocol_runs_per_hour"] = protocol["runs_per_hour"]
        result["protocol_wall_min"] = protocol["wall_min"]
    out = Path(cfg.paths.output_dir)
    write_json(out / "bench.json", result)
    atomic_write_text(out / "bench.md", _markdown(result))
    _plot(result, out / "bench.png")
    print(_markdown(result))
    print(f"bench: {out / 'bench.json'}")  # the markdown ends with the protocol's runs/hour
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as err:
        raise exit_with_one_line("segkit-bench", err) from None


if __name__ == "__main__":
    main()
