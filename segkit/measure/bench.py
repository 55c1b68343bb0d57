"""The upsampler benchmark on this device (``segkit-bench``; ``make bench``).

Per registered upsampler: training step and inference time and images/s, FLOPs per step and the
achieved GFLOP/s as a share of a large 3x3 convolution's throughput measured by the same harness,
peak memory, the bytes the decoder keeps for backward and passes as pooling indices, parameters,
and the Lightning step against a bare PyTorch loop (interleaved). Once: the data loader's rate
against the step's consumption, the val metric update's share of a step, options (channels_last,
autocast precisions, torch.compile) where they run, and ``segkit-train --help`` start-up time.
With ``protocol.enabled``: the runs/hour of the protocol sweep (:mod:`segkit.measure.protocol_cost`).
Writes ``bench.json``, ``bench.md`` and ``bench.png`` (:mod:`segkit.measure.bench_report`).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segkit.measure.bench_report import bench_markdown, bench_plot
from segkit.measure.protocol_cost import protocol_estimate
from segkit.measure.steps import bench_task, lightning_vs_bare


def _upsampler_row(cfg: DictConfig, name: str, datamodule, batch, device, peak) -> dict[str, Any]:
    import torch

    from segkit.measure.flops import count_params
    from segkit.measure.harness import cpu_peak_rss, decoder_memory, median, step_flops, timed

    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["upsampler"] = {"name": name}
    task, train_step = bench_task(cfg, datamodule, batch, device, model=model)
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
    row.update(lightning_vs_bare(task, batch, device, cfg.steps, cfg.warmup, cfg.rounds))
    return row


def _option_step_s(cfg: DictConfig, datamodule, batch, device, kwargs: dict[str, Any],
                   precision: str | None) -> float:  # fmt: skip
    """Median training step of the configured model with task options and autocast precision."""
    from segkit.measure.harness import median, timed

    _, step = bench_task(cfg, datamodule, batch, device, precision=precision, **kwargs)
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


def run_bench(cfg: DictConfig, config_dir: str) -> dict[str, Any]:
    """Measure on ``cfg.device``; write ``bench.json``, ``bench.md`` and ``bench.png`` into
    ``cfg.paths.output_dir`` and print the tables. ``config_dir``: the config tree the protocol
    estimate composes ``train.yaml`` from."""
    import platform

    import torch
    from hydra.utils import instantiate

    from segkit.io import atomic_write_text, write_json
    from segkit.measure.harness import conv_peak, help_seconds
    from segkit.models import UPSAMPLERS
    from segkit.models.upsamplers import get_upsampler_class

    device_name = (
        cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    device = torch.device(device_name)
    names = list(cfg.upsamplers or UPSAMPLERS)
    for name in names:  # built-ins and installed plugins; an unknown name lists the valid ones
        get_upsampler_class(name)
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
        protocol = protocol_estimate(cfg, names, device, config_dir)
        result["protocol"] = protocol
        result["protocol_runs_per_hour"] = protocol["runs_per_hour"]
        result["protocol_wall_min"] = protocol["wall_min"]
    out = Path(cfg.paths.output_dir)
    write_json(out / "bench.json", result)
    atomic_write_text(out / "bench.md", bench_markdown(result))
    bench_plot(result, out / "bench.png")
    print(bench_markdown(result))
    print(f"bench: {out / 'bench.json'}")  # the markdown ends with the protocol's runs/hour
    return result
