"""A Hydra callback that checks the run folder can be made before Hydra makes it.

Hydra creates ``hydra.run.dir`` (or the sweep folder) and writes its ``.hydra/`` record there
before any segkit code runs; a folder it cannot create would fail inside Hydra with a traceback.
This callback runs first (``on_run_start`` / ``on_multirun_start``) and stops with one line, the
same check ``segkit.training.checks`` makes of ``paths.output_dir``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from segkit.errors import ConfigError
from segkit.options import check_writable_dir


class RunDirCheck(Callback):
    """Stop with ``<app>: error: ...`` when the run or sweep folder cannot be written."""

    def _check(self, config: DictConfig, mode: str) -> None:
        key = f"hydra.{mode}.dir"
        try:
            check_writable_dir(
                key, Path(str(config.hydra[mode].dir)), f"choose another folder with {key}=..."
            )
        except ConfigError as err:
            app = config.hydra.help.app_name or config.hydra.job.name
            print(f"{app}: error: {err}", file=sys.stderr)
            raise SystemExit(1) from None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "sweep")
