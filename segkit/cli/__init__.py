"""Thin Hydra entry points. Each module has a testable ``run(cfg) -> dict`` and a ``main``."""

from pathlib import Path

# The config tree lives at the repository's top level (installed editable with `make install`).
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
