"""The command-line entry points: each module parses its arguments (Hydra or argparse), calls one
library function (`segkit.training.run.run`, `segkit.evaluation.evaluate`, ...) and turns bad
input into one line (`exit_with_one_line`)."""

from pathlib import Path

# The config tree ships inside the package (segkit/configs), so a wheel install finds it as an
# editable clone does. Users add their own folder with --config-dir DIR or SEGKIT_CONFIG_PATH.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")


def exit_with_one_line(prog: str, err: BaseException) -> SystemExit:
    """``SystemExit("<prog>: error: <message>")`` for bad input: one line, no traceback.

    Errors raised in a DataLoader worker arrive wrapped with the worker's traceback; the last line
    is the message.
    """
    lines = str(err).strip().splitlines()
    message = lines[-1].split("DataError: ", 1)[-1] if lines else type(err).__name__
    return SystemExit(f"{prog}: error: {message}")
