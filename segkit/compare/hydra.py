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
    """

    def __init__(self, baseline: str | None = "nearest", replicates: int = 2000) -> None:
        self.baseline, self.replicates = baseline, replicates

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from segkit.compare.report import write_report
        from segkit.compare.runs import CompareError, find_runs
        from segkit.models.upsamplers import UPSAMPLERS

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            runs = find_runs(sweep_dir)
            report = write_report(
                runs, sweep_dir / "report", self.baseline, self.replicates, str(sweep_dir),
                list(UPSAMPLERS),
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
