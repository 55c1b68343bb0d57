"""The protocol sweep's runs/hour on this device (``segkit-bench`` with ``protocol.enabled``).

Per upsampler x fusion: the step and val-batch time at the protocol's settings, composed from
``train.yaml`` with ``experiment=<protocol.experiment>`` as ``segkit-train`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segkit.measure.steps import bench_task


def compose_protocol(cfg: DictConfig, overrides: list[str], config_dir: str) -> DictConfig:
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
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=True)
    except HydraException as err:
        raise ValueError(
            f"protocol: cannot compose train.yaml with {overrides}: {(str(err).splitlines() or [type(err).__name__])[0]} "
            "(set protocol.enabled=false to skip the protocol estimate)"
        ) from None


def protocol_estimate(cfg: DictConfig, names: list[str], device, config_dir: str) -> dict[str, Any]:
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

    base = compose_protocol(cfg, [], config_dir)
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
            group = Path(config_dir, "model", "upsampler", f"{name}.yaml").is_file()
            composed = (
                compose_protocol(cfg, [f"model/upsampler={name}"], config_dir) if group else base
            )
            for fusion in cfg.protocol.fusion:
                model = OmegaConf.to_container(composed.model, resolve=True)
                model["fusion"] = str(fusion)
                if not group:
                    model["upsampler"] = {"name": name}
                task, train_step = bench_task(composed, datamodule, batch, device, model=model,
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
