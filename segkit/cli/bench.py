"""Benchmark the upsamplers on this device (Hydra CLI ``segkit-bench``; ``make bench``).

What is measured and written (``bench.json``, ``bench.md``, ``bench.png``):
:mod:`segkit.measure.bench`.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from segkit.cli import CONFIG_DIR, exit_with_one_line


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the benchmark of ``cfg`` (a composed ``bench.yaml``); return ``bench.json``'s contents."""
    from segkit.measure.bench import run_bench

    return run_bench(cfg, CONFIG_DIR)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as err:
        raise exit_with_one_line("segkit-bench", err) from None


if __name__ == "__main__":
    main()
