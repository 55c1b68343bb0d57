"""The errors segkit reports in one line: bad input or settings, as opposed to bugs.

Every command-line tool catches :class:`UserError` and prints ``<tool>: error: <message>`` with no
traceback (``segkit.cli.exit_with_one_line``); each message names the file or config key and the
fix. ``docs/errors.md`` lists them with their exact messages. This module imports nothing, so a tool
can catch them without loading torch or Lightning first.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input, settings or environment, described in one line with the fix."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the key, the value and the fix."""


class DataError(UserError, ValueError):
    """A problem with the files of a dataset; the message names the file and the fix."""


class PrepareError(UserError, RuntimeError):
    """A problem with the VOC/SBD archives or their download, naming the file and the fix."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unsafe, not segkit's, or for another network."""


class ResumeError(UserError, ValueError):
    """Resume settings that contradict each other."""


class LaunchError(UserError, RuntimeError):
    """Launch settings that cannot work (e.g. DDP inside a Hydra multirun, SyncBatchNorm on CPU)."""


class MissingDependency(UserError, RuntimeError):
    """An optional package the chosen config needs is not installed; says what to install."""


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or infinite; the run stops before that optimizer step."""


class ExportError(UserError, RuntimeError):
    """The export failed, a runtime is missing, or its outputs differ from PyTorch's."""


class CompareError(UserError, ValueError):
    """Nothing (or nothing consistent) to compare; the message says what and where."""
