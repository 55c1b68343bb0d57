"""``segkit-bench``'s outputs besides ``bench.json``: the Markdown tables and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def protocol_line(p: dict[str, Any]) -> str:
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


def bench_markdown(result: dict[str, Any]) -> str:
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
        lines += ["", protocol_line(p)]
    return "\n".join(lines) + "\n"


def bench_plot(result: dict[str, Any], path: Path) -> None:
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
