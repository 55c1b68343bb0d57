"""segkit-compare's power statistics on constructed runs with known answers: convergence, stalls,
the minimal detectable difference, seeds needed, and the report that carries them."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from segkit.cli.compare import main as compare_main
from segkit.compare.analysis import Settings
from segkit.compare.hydra import CompareOnMultirunEnd
from segkit.compare.report import write_report
from segkit.compare.runs import CompareError, Run, find_runs
from segkit.compare.stats import (
    convergence,
    min_detectable_difference,
    paired_seed_test,
    pooled_sd,
    seeds_needed,
    stalls,
)
from segkit.models import UPSAMPLERS

from .conftest import REPO

STEPS = list(range(4, 100, 5))  # a validation every 5 steps, the last at step 99 of 100


# --- convergence -------------------------------------------------------------------------------


def test_flat_curve_converged() -> None:
    c = convergence(STEPS, [0.6] * len(STEPS), total_steps=100)
    # window [80, 100]: validations at 84, 89, 94, 99
    assert (c.status, c.points, c.reason) == ("converged", 4, "")
    assert c.drift == pytest.approx(0.0, abs=1e-12)


def test_rising_line_climbing_with_its_drift() -> None:
    steps = list(range(0, 101, 5))
    rising = [0.5 + 0.05 * s / 20 for s in steps]  # +0.05 across the last 20 of 100 steps
    c = convergence(steps, rising, total_steps=100)
    assert c.status == "climbing" and c.points == 5
    assert abs(c.drift - 0.05) < 1e-9
    falling = convergence(steps, [1 - v for v in rising], total_steps=100)
    assert falling.status == "falling" and abs(falling.drift + 0.05) < 1e-9
    # the same line is flat enough under a looser tolerance; the noise before the window is ignored
    early_noise = [
        v + (0.3 if s < 80 else 0.0) * (-1) ** (s // 5) for s, v in zip(steps, rising, strict=True)
    ]
    loose = convergence(steps, early_noise, total_steps=100, flat_tol=0.06)
    assert loose.status == "converged" and abs(loose.drift - 0.05) < 1e-9


def test_run_length_from_metrics_sets_the_window() -> None:
    # validations up to step 99 but the run trained 200 steps: window [160, 200] holds none
    c = convergence(STEPS, [0.6] * len(STEPS), total_steps=200)
    assert c.status == "unknown" and c.points == 0


def test_too_few_validations_unknown() -> None:
    # one validation per epoch of 10 steps, 6 epochs: steps 9..59, window [48, 60] holds 2
    steps = [9, 19, 29, 39, 49, 59]
    c = convergence(steps, [0.1, 0.3, 0.5, 0.6, 0.6, 0.6], total_steps=60)
    assert (c.status, c.points) == ("unknown", 2) and math.isnan(c.drift)
    assert "too few validations in the last 20%" in c.reason
    assert "trainer.val_check_interval" in c.reason
    assert convergence([], [], total_steps=60).status == "unknown"
    # a wider window takes in a third validation
    assert convergence(steps, [0.1, 0.3, 0.5, 0.6, 0.6, 0.6], 60, window=0.4).status == "converged"


# --- stalls --------------------------------------------------------------------------------------


def test_seed_far_below_the_others_stalled() -> None:
    found = stalls([0.60, 0.61, 0.40, 0.62])
    assert [s.stalled for s in found] == [False, False, True, False]
    assert found[2].gap == pytest.approx(0.61 - 0.40)
    assert "below the median of the other seeds" in found[2].reason
    # three seeds: the others' median is their mean
    three = stalls([0.60, 0.61, 0.40])
    assert [s.stalled for s in three] == [False, False, True]
    assert three[2].gap == pytest.approx(0.605 - 0.40)
    # exactly at the gap is not stalled (more than gap below)
    assert not stalls([0.5, 0.5, 0.25], gap=0.25)[2].stalled
    # two seeds: the gap test is not decidable; a floor still decides
    two = stalls([0.60, 0.40])
    assert not any(s.stalled for s in two) and "not decidable" in two[1].reason
    floored = stalls([0.60, 0.40], floor=0.5)
    assert [s.stalled for s in floored] == [False, True] and "floor 0.5" in floored[1].reason


# --- minimal detectable difference and seeds needed -------------------------------------------


def test_mdd_and_paired_t_by_hand() -> None:
    base = np.array([0.60, 0.55, 0.70])
    d = np.array([0.01, 0.02, 0.03])  # mean 0.02, sd 0.01
    t = paired_seed_test(base + d, base)
    se = 0.01 / math.sqrt(3)
    assert t.n == 3 and t.reason == ""
    assert t.mean == pytest.approx(0.02) and t.sd == pytest.approx(0.01)
    assert t.mdd == pytest.approx((stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * se)
    assert t.low == pytest.approx(0.02 - stats.t.ppf(0.975, 2) * se)
    assert t.high == pytest.approx(0.02 + stats.t.ppf(0.975, 2) * se)
    assert t.p == pytest.approx(2 * stats.t.sf(0.02 / se, 2))
    # another power and level
    t90 = paired_seed_test(base + d, base, alpha=0.1, power=0.9)
    assert t90.mdd == pytest.approx((stats.t.ppf(0.95, 2) + stats.t.ppf(0.9, 2)) * se)
    assert min_detectable_difference(0.01, 3) == pytest.approx(t.mdd)
    # pairs with a missing score are dropped
    assert paired_seed_test([0.61, math.nan, 0.72], [0.60, 0.55, 0.70]).n == 2


def test_one_seed_pair_is_nan_with_the_reason() -> None:
    t = paired_seed_test([0.62], [0.60])
    assert t.n == 1 and t.mean == pytest.approx(0.02)
    assert all(math.isnan(v) for v in (t.sd, t.low, t.high, t.p, t.mdd))
    assert "needs at least 2" in t.reason
    assert math.isnan(min_detectable_difference(0.01, 1))
    assert paired_seed_test([], []).n == 0


def test_no_spread_between_seeds() -> None:
    same = paired_seed_test([0.6, 0.7], [0.6, 0.7])
    assert (same.mdd, same.p, same.low, same.high) == (0.0, 1.0, 0.0, 0.0)
    shifted = paired_seed_test([0.65, 0.75, 0.85], [0.6, 0.7, 0.8])
    assert shifted.p == 0.0 and shifted.low == pytest.approx(0.05) == shifted.high


def test_seeds_needed_by_hand() -> None:
    # sd of the differences = target: the smallest n with t(.975, n-1) + t(.8, n-1) <= sqrt(n);
    # n = 9: 2.306 + 0.889 = 3.195 > 3; n = 10: 2.262 + 0.883 = 3.145 <= 3.162
    assert stats.t.ppf(0.975, 8) + stats.t.ppf(0.8, 8) > 3.0
    assert stats.t.ppf(0.975, 9) + stats.t.ppf(0.8, 9) <= math.sqrt(10)
    assert seeds_needed(0.01, 0.01) == 10
    assert min_detectable_difference(0.01, 9) > 0.01 >= min_detectable_difference(0.01, 10)
    assert seeds_needed(0.0, 0.01) == 2  # no spread: the smallest n the test allows
    assert seeds_needed(1.0, 0.01) == math.inf  # more than 1000
    assert math.isnan(seeds_needed(math.nan, 0.01))
    with pytest.raises(ValueError, match="> 0"):
        seeds_needed(0.01, 0.0)


def test_pooled_sd_by_hand() -> None:
    sd, dof = pooled_sd([(3, 0.01), (3, 0.02), (1, math.nan)])
    assert dof == 4 and sd == pytest.approx(math.sqrt((2 * 0.01**2 + 2 * 0.02**2) / 4))
    assert math.isnan(pooled_sd([(1, math.nan)])[0])


# --- the report on constructed run folders ----------------------------------------------------

FINALS = {  # upsampler -> per seed (1, 2, 3) final val mIoU
    "nearest": [0.60, 0.61, 0.62],
    "bilinear": [0.66, 0.665, 0.68],  # +0.06, +0.055, +0.06
    "transpose": [0.62, 0.42, 0.63],  # seed 2 stalled: 0.205 below the others' median
}


def _write_run(folder: Path, upsampler: str, seed: int, final: float, confusions: np.ndarray):
    folder.mkdir(parents=True)
    boundary = final - 0.1
    metrics = {
        "upsampler": upsampler,
        "seed": seed,
        "steps": 100,
        "params": 1000,
        "gflops": 0.5,
        "train_images_per_s": 10.0,
        "checkerboard_init": 0.1,
        "checkerboard_final": 0.05,
        "final": {"val/mIoU": final, "val/boundary_mIoU": boundary, "val/pixel_acc": 0.9},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    # Lightning's CSV log: a train row and a validation every 5 steps (4 per epoch of 20)
    climbing = upsampler == "bilinear" and seed == 3
    log = folder / "csv" / "version_0" / "metrics.csv"
    log.parent.mkdir(parents=True)
    cols = ["epoch", "step", "train/loss_epoch", "val/mIoU", "val/boundary_mIoU"]
    with log.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for step in STEPS:
            epoch = step // 20
            value = final - (0.05 * (99 - step) / 20 if climbing else 0.0)
            writer.writerow([epoch, step, "", value, value - 0.1])
            if step % 20 == 19:
                writer.writerow([epoch, step, 1.0 / (epoch + 1), "", ""])
    np.savez(folder / "val_records.npz", confusions=confusions)


@pytest.fixture(scope="module")
def constructed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("constructed")
    rng = np.random.default_rng(0)
    for seed in (1, 2, 3):
        base = rng.integers(0, 50, size=(20, 3, 3))
        records = {
            "nearest": base,
            "bilinear": base + 40 * np.eye(3, dtype=np.int64)[None],  # better on every image
            "transpose": base,
        }
        for name, finals in FINALS.items():
            _write_run(root / f"{name}_{seed}", name, seed, finals[seed - 1], records[name])
    return root


def _summary(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {r["upsampler"]: r for r in csv.DictReader(f)}


def test_compare_reports_power_convergence_and_stalls(constructed: Path, tmp_path: Path) -> None:
    runs = find_runs(constructed)
    climbing = next(r for r in runs if r.name == "bilinear_3")
    assert climbing.val_steps["step"] == [float(s) for s in STEPS] and climbing.total_steps == 100

    out = tmp_path / "report"
    assert compare_main([str(constructed), "--out", str(out), "--replicates", "300"]) == 0
    rows = _summary(out / "summary.csv")
    assert list(rows) == [u for u in UPSAMPLERS if u in FINALS]  # registry order
    new = ["runs_converged", "runs_climbing", "runs_falling", "runs_unknown", "runs_stalled",
           "stalled_runs", "seed_pairs", "mIoU_seed_diff", "mIoU_seed_diff_sd", "mIoU_t_low",
           "mIoU_t_high", "mIoU_p", "mIoU_mdd", "mIoU_seeds_needed", "boundary_mIoU_mdd",
           "boundary_mIoU_seeds_needed", "verdict"]  # fmt: skip
    for key in [*new, "mIoU_std", "boundary_mIoU_std", "delta_mIoU"]:  # old ones kept
        assert key in rows["nearest"], key

    nearest, bilinear, transpose = rows["nearest"], rows["bilinear"], rows["transpose"]
    assert nearest["verdict"] == "baseline" and nearest["mIoU_mdd"] == "nan"
    assert nearest["runs_converged"] == "3" and nearest["runs_stalled"] == "0"

    # bilinear: d = (0.06, 0.055, 0.06); one run still climbing 0.05 across its last 20 steps
    d = np.array(FINALS["bilinear"]) - np.array(FINALS["nearest"])
    se = d.std(ddof=1) / math.sqrt(3)
    mdd = (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * se
    assert float(bilinear["mIoU_mdd"]) == pytest.approx(mdd)
    assert float(bilinear["boundary_mIoU_mdd"]) == pytest.approx(mdd)  # boundary = mIoU - 0.1
    assert float(bilinear["mIoU_seed_diff"]) == pytest.approx(d.mean())
    assert float(bilinear["mIoU_t_low"]) == pytest.approx(d.mean() - stats.t.ppf(0.975, 2) * se)
    expected = next(
        n for n in range(2, 1001)
        if (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * d.std(ddof=1) / math.sqrt(n)
        <= 0.01
    )  # fmt: skip
    assert int(bilinear["mIoU_seeds_needed"]) == expected
    assert (bilinear["runs_converged"], bilinear["runs_climbing"]) == ("2", "1")
    assert bilinear["verdict"] == "better"  # t interval and bootstrap both above 0
    assert float(bilinear["delta_mIoU_low"]) > 0 and float(bilinear["mIoU_t_low"]) > 0

    # transpose: the stalled seed is flagged, still in the mean and std
    assert transpose["runs_stalled"] == "1" and transpose["stalled_runs"] == "transpose_2"
    assert float(transpose["mIoU_mean"]) == pytest.approx(np.mean(FINALS["transpose"]))
    assert transpose["verdict"] == "inconclusive"
    assert transpose["mIoU_seeds_needed"] == ">1000"  # sd of d 0.11: far too noisy for 0.01

    report = (out / "report.md").read_text()
    top = report.split("Source:")[0]
    assert (
        "**⚠ 1 of 9 runs stalled**" in top and "`transpose_2` (transpose seed 2: mIoU 0.420" in top
    )
    assert "**⚠ 1 of 9 runs did not converge**" in top and "`bilinear_3`" in top
    assert "drift +0.0500" in top
    assert "## Power" in report and "## Runs" in report
    assert "a paired t-test over seeds at alpha 0.05 would detect with 80% power" in report
    assert "underestimates the spread between seeds" in report
    assert "| bilinear | 0.0104 | 0.0104 |" in report  # seed std of mIoU and boundary mIoU
    assert f"{mdd:.4f}" in report and "| better |" in report and "| inconclusive |" in report
    assert "| checkerboard init → final |" in report  # the first table as before

    # the options reach the statistics
    out2 = tmp_path / "report2"
    argv = [str(constructed), "--out", str(out2), "--replicates", "50", "--target-diff", "0.05",
            "--power", "0.9", "--flat-tol", "0.06", "--stall-gap", "0.3", "--stall-floor", "0.605"]  # fmt: skip
    assert compare_main(argv) == 0
    rows = _summary(out2 / "summary.csv")
    assert rows["bilinear"]["runs_climbing"] == "0"  # drift 0.05 <= 0.06
    assert rows["transpose"]["stalled_runs"] == "transpose_2"  # by the floor, not the gap
    assert rows["nearest"]["stalled_runs"] == "nearest_1"  # 0.60 < 0.605
    assert float(rows["bilinear"]["mIoU_mdd"]) == pytest.approx(
        (stats.t.ppf(0.975, 2) + stats.t.ppf(0.9, 2)) * se
    )
    assert int(rows["bilinear"]["mIoU_seeds_needed"]) == 2


def test_report_unknown_convergence_line(tmp_path: Path) -> None:
    # runs with no CSV log: convergence cannot be checked, said once at the top
    runs = [
        Run(f"r{s}", {"upsampler": "nearest", "seed": s, "final": {"val/mIoU": 0.5 + s / 100}})
        for s in (1, 2, 3)
    ]
    report = write_report(runs, tmp_path / "out").read_text()
    assert "**3 of 3 runs could not be checked for convergence**" in report
    assert "did not converge" not in report and "stalled**" not in report
    with pytest.raises(CompareError, match="--power 1.5"):
        write_report(runs, tmp_path / "out", settings=Settings(power=1.5))
    assert compare_main([str(tmp_path / "missing"), "--flat-tol", "-1"]) == 2


def test_experiment_config_instantiates_the_callback() -> None:
    cfg = OmegaConf.load(REPO / "segkit" / "configs" / "experiment" / "compare_upsamplers.yaml")
    node = OmegaConf.to_container(cfg.hydra.callbacks.compare)
    assert node.pop("_target_") == "segkit.compare.hydra.CompareOnMultirunEnd"
    callback = CompareOnMultirunEnd(**node)
    assert Settings(**callback.stats) == Settings()  # the config's values are the defaults
