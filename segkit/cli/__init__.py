"""Thin Hydra entry points. Each module has a testable ``run(cfg) -> dict`` and a ``main``."""

from pathlib import Path

# The config tree lives at the repository's top level (installed editable with `make install`).
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
if not Path(CONFIG_DIR, "train.yaml").is_file():
    raise SystemExit(
        f"segkit: no config tree at {CONFIG_DIR}; install segkit editable from a clone "
        "(make install, or pip install -e .) so the CLI finds configs/"
    )
