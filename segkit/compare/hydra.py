"""A Hydra callback that writes the comparison report when a multirun sweep ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class CompareOnMultirunEnd(Callback):
    """After the sweep's last job, run ``segkit-compare`` on the sweep folder.

    Args:
        baseline: upsampler the differences are taken to.
        replicates: bootstrap replicates.
        target_diff, power, window, flat_tol, stall_gap, stall_floor: as ``segkit-compare``'s
            options of the same names (:class:`segkit.compare.analysis.Settings`).
    """

    def __init__(
        self,
        baseline: str | None = "nearest",
        replicates: int = 2000,
        target_diff: float = 0.01,
        power: float = 0.8,
        window: float = 0.2,
        flat_tol: float = 0.01,
        stall_gap: float = 0.05,
        stall_floor: float | None = None,
    ) -> None:
        self.baseline, self.replicates = baseline, replicates
        self.stats = dict(
            target_diff=target_diff,
            power=power,
            window=window,
            flat_tol=flat_tol,
            stall_gap=stall_gap,
            stall_floor=stall_floor,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from segkit.compare.analysis import Settings
        from segkit.compare.report import write_report
        from segkit.compare.runs import CompareError, find_runs
        from segkit.models.upsamplers import UPSAMPLERS

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            runs = find_runs(sweep_dir)
            report = write_report(
                runs, sweep_dir / "report", self.baseline, self.replicates, str(sweep_dir),
                list(UPSAMPLERS), Settings(**self.stats),
            )  # fmt: skip
        except CompareError as err:
            print(f"segkit-compare: error: {err}")
            return
        except Exception as err:
            print(
                f"segkit-compare: failed ({type(err).__name__}: {err}); run segkit-compare {sweep_dir}"
            )
            return
        print(f"comparison of {len(runs)} runs: {report}")
