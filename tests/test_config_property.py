"""Property: any composition of the config groups, with or without one bad value, either trains
or fails with one of segkit's clear errors, in one line naming a config key; never anything else.

Hypothesis draws group options (upsampler, a cheap encoder, fusion, optimizer, logger, callbacks)
and optionally one invalid scalar, composes the train config on the tiny synthetic set, and runs
``segkit.training.run.run`` for one step and one validation batch.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from segkit.cli import CONFIG_DIR
from segkit.data.checks import DataError
from segkit.errors import ConfigError, MissingDependency
from segkit.training.checkpoint import CheckpointError
from segkit.training.run import run

from .conftest import compose_train, tiny_overrides

# what segkit-train turns into one line (segkit.cli.train.main)
CLEAR_ERRORS = (
    ConfigError,
    DataError,
    CheckpointError,
    MissingDependency,
    FileNotFoundError,
    FileExistsError,
)
CONFIG_KEY = re.compile(r"\b(data|model|optim|trainer|loss|boundary|paths|logger)[./][a-z_.]+")
UPSAMPLER_OPTIONS = sorted(p.stem for p in Path(CONFIG_DIR, "model", "upsampler").glob("*.yaml"))
# the cheap encoders: the tiny VGG and ResNet-18 (which has no pooling indices for max_unpool)
ENCODERS = ("vgg", "resnet18")

groups = st.fixed_dictionaries(
    {
        "model/upsampler": st.sampled_from(UPSAMPLER_OPTIONS),
        "model/encoder": st.sampled_from(ENCODERS),
        "model.fusion": st.sampled_from(["none", "add", "concat"]),
        "optim": st.sampled_from(["sgd", "adamw"]),
        "logger": st.sampled_from(["csv", "none"]),
        "callbacks": st.sampled_from(["none", "default"]),
    }
)
names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=10)
bad_values = st.one_of(
    st.tuples(
        st.just("data.batch_size"), st.one_of(st.integers(-3, 0), st.sampled_from(["abc", "true"]))
    ),
    st.tuples(st.just("data.crop_size"), st.integers(-3, 0).map(str)),
    st.tuples(st.just("data.num_workers"), st.integers(-3, -1).map(str)),
    st.tuples(st.just("optim.lr"), st.sampled_from(["fast", "0", "-1e-3"])),
    st.tuples(st.just("trainer.max_steps"), st.sampled_from(["0", "-2", "1.5"])),
    st.tuples(st.just("data.scale_range"), st.sampled_from(["[2.0,1.0]", "[0,1]"])),
    st.tuples(st.just("model.upsampler.name"), names.filter(lambda n: n not in UPSAMPLER_OPTIONS)),
)
# half of the examples with one bad value, half without (which trains unless the pairing is bad)
invalid = st.booleans().flatmap(lambda bad: bad_values if bad else st.none())


def _overrides(tiny: Path, choice: dict[str, str], bad: tuple[str, object] | None) -> list[str]:
    base = [o for o in tiny_overrides(tiny) if not o.startswith("callbacks=")]
    if choice["model/encoder"] != "vgg":  # widths are an option of the VGG encoder only
        base = [o for o in base if not o.startswith("model.encoder.widths")]
    overrides = [*base, *(f"{k}={v}" for k, v in choice.items())]
    if choice["callbacks"] == "default":  # Rich progress and summary: not in a test log
        overrides += ["~callbacks.progress_bar", "~callbacks.model_summary"]
    overrides += ["trainer.max_steps=1", "trainer.limit_train_batches=1"]
    overrides += ["trainer.limit_val_batches=1", "trainer.max_epochs=1"]
    if bad is not None:
        overrides.append(f"{bad[0]}={bad[1]}")
    return overrides


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(choice=groups, bad=invalid)
def test_any_composition_trains_or_fails_clearly(
    tiny_synthetic: Path,
    tmp_path_factory: pytest.TempPathFactory,
    choice: dict[str, str],
    bad: tuple[str, object] | None,
) -> None:
    cfg = compose_train(_overrides(tiny_synthetic, choice, bad), tmp_path_factory.mktemp("run"))
    unpairable = choice["model/upsampler"] == "max_unpool" and choice["model/encoder"] != "vgg"
    try:
        metrics = run(cfg)
    except CLEAR_ERRORS as err:
        event(f"failed clearly: {type(err).__name__}")  # --hypothesis-show-statistics
        event(f"bad value: {bad is not None}, unpairable: {unpairable}")
        message = str(err)
        assert "\n" not in message and CONFIG_KEY.search(message), message
        assert bad is not None or unpairable, f"a valid config failed: {message}"
        # the first problem in check order: the bad scalar, or else the pairing
        assert (bad[0] if bad is not None else "model.upsampler.name") in message, message
        return
    event("trained")
    assert bad is None and not unpairable, "an invalid config trained"
    assert metrics["steps"] == 1 and "val/mIoU" in metrics["final"]
