"""Thin Hydra entry points. Each module has a testable ``run(cfg) -> dict`` and a ``main``."""

from pathlib import Path

# The config tree lives at the repository's top level (installed editable with `make install`).
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
if not Path(CONFIG_DIR, "train.yaml").is_file():
    raise SystemExit(
        f"segkit: no config tree at {CONFIG_DIR}; install segkit editable from a clone "
        "(make install, or pip install -e .) so the CLI finds configs/"
    )


def exit_with_one_line(prog: str, err: BaseException) -> SystemExit:
    """``SystemExit("<prog>: error: <message>")`` for bad input: one line, no traceback.

    Errors raised in a DataLoader worker arrive wrapped with the worker's traceback; the last line
    is the message.
    """
    lines = str(err).strip().splitlines()
    message = lines[-1].split("DataError: ", 1)[-1] if lines else type(err).__name__
    return SystemExit(f"{prog}: error: {message}")
