"""The comparison's statistics over runs grouped by upsampler: one :class:`Row` per upsampler.

Each run is checked for convergence (its val mIoU flat over the last steps) and stalls (far below
its sibling seeds); each upsampler's difference to the baseline gets a paired bootstrap interval
over val images and seeds, a paired t-test over seeds, its minimal detectable difference, the seeds
a chosen difference would need, and a verdict. The formulas are in :mod:`segkit.compare.stats`;
:mod:`segkit.compare.report` writes the results.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from segkit.compare.runs import CompareError, Run
from segkit.compare.stats import (
    Convergence,
    Interval,
    SeedTest,
    Stall,
    convergence,
    mean_std,
    min_detectable_difference,
    paired_bootstrap,
    paired_seed_test,
    pooled_sd,
    seeds_needed,
    stalls,
)

# summary.csv: mean and std over seeds of these final val scores
SCORES = {"mIoU": "mIoU", "boundary_mIoU": "boundary mIoU", "pixel_acc": "pixel accuracy"}
# ... and for these a paired t-test over seeds against the baseline, its power and seeds needed
TESTED = ("mIoU", "boundary_mIoU")
STATUSES = ("converged", "climbing", "falling", "unknown")


@dataclass
class Settings:
    """The statistics' parameters (``segkit-compare`` options of the same names).

    Attributes:
        alpha: level of the paired t-test over seeds (two-sided).
        power: probability of detecting the minimal detectable difference.
        target_diff: the mIoU difference whose seeds-needed is reported.
        window: fraction of a run's steps at its end examined for convergence.
        flat_tol: largest |drift| of val mIoU over that window counted as converged.
        stall_gap: a run more than this below the median of its sibling seeds is stalled.
        stall_floor: a run whose final mIoU is below this is stalled (None: no floor).
    """

    alpha: float = 0.05
    power: float = 0.8
    target_diff: float = 0.01
    window: float = 0.2
    flat_tol: float = 0.01
    stall_gap: float = 0.05
    stall_floor: float | None = None

    def check(self) -> None:
        """Raises CompareError for values outside their range."""
        bad = []
        if not 0 < self.alpha < 1:
            bad.append(f"alpha {self.alpha} (needs 0 < alpha < 1)")
        if not 0 < self.power < 1:
            bad.append(f"--power {self.power} (needs 0 < power < 1)")
        if not self.target_diff > 0:
            bad.append(f"--target-diff {self.target_diff} (needs > 0)")
        if not 0 < self.window <= 1:
            bad.append(f"--window {self.window} (needs 0 < window <= 1)")
        if not self.flat_tol >= 0:
            bad.append(f"--flat-tol {self.flat_tol} (needs >= 0)")
        if not self.stall_gap >= 0:
            bad.append(f"--stall-gap {self.stall_gap} (needs >= 0)")
        if bad:
            raise CompareError("bad statistics settings: " + "; ".join(bad))


@dataclass
class RunStatus:
    """A run's convergence and stall checks."""

    run: Run
    convergence: Convergence
    stall: Stall


@dataclass
class Row:
    """One upsampler's line of the summary."""

    upsampler: str
    runs: list[Run]
    interval: Interval | None = None
    statuses: list[RunStatus] = field(default_factory=list)
    tests: dict[str, SeedTest] = field(default_factory=dict)  # per TESTED key, not the baseline's
    needed: dict[str, float] = field(default_factory=dict)  # seeds needed per TESTED key
    verdict: str = "inconclusive"

    def count(self, status: str) -> int:
        if status == "stalled":
            return sum(s.stall.stalled for s in self.statuses)
        return sum(s.convergence.status == status for s in self.statuses)

    def values(self, key: str) -> list[float]:
        return [r.score(key) for r in self.runs]

    def cost(self, key: str) -> float:
        values = [r.metrics.get(key) for r in self.runs if r.metrics.get(key) is not None]
        return mean_std(values)[0] if values else math.nan


def group_runs(runs: Sequence[Run], order: Sequence[str] = ()) -> dict[str, list[Run]]:
    """Runs by upsampler (registry order first, then by name), each list sorted by seed.

    Raises:
        CompareError: two runs share an upsampler and a seed (ambiguous pairing).
    """
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.upsampler].append(run)
    for name, members in groups.items():
        seeds = [r.seed for r in members]
        if len(set(seeds)) != len(seeds):
            dup = sorted({s for s in seeds if seeds.count(s) > 1})
            where = ", ".join(r.name for r in members if r.seed in dup)
            raise CompareError(
                f"upsampler {name} has several runs with seed {dup}: {where}; compare one sweep at a time"
            )
        members.sort(key=lambda r: r.seed)
    rank = {name: i for i, name in enumerate(order)}
    return {k: groups[k] for k in sorted(groups, key=lambda k: (rank.get(k, len(rank)), k))}


def bootstrap_rows(rows: list[Row], baseline: str, replicates: int, seed: int = 0) -> None:
    """Fill each row's paired-bootstrap interval against ``baseline`` (seeds both sides have).

    Raises:
        CompareError: runs whose per-image confusions differ in shape from the baseline's (other
            val images or classes, e.g. a run with ``trainer.limit_val_batches``).
    """
    cache: dict[str, np.ndarray | None] = {}

    def confusions(run: Run) -> np.ndarray | None:
        if run.name not in cache:
            records = run.load_records()
            cache[run.name] = None if records is None else records.get("confusions")
        return cache[run.name]

    base = {r.seed: r for r in next(row for row in rows if row.upsampler == baseline).runs}
    for row in rows:
        cand, ref = [], []
        for run in row.runs:
            if run.seed not in base:
                continue
            c, b = confusions(run), confusions(base[run.seed])
            if c is None or b is None:
                continue
            if c.shape != b.shape:
                raise CompareError(
                    f"{run.name} and {base[run.seed].name} were validated on different images or "
                    f"classes (per-image confusions {c.shape} vs {b.shape}); compare like with like"
                )
            cand.append(c)
            ref.append(b)
        if cand:
            row.interval = paired_bootstrap(cand, ref, replicates=replicates, seed=seed)


def check_runs(rows: list[Row], settings: Settings) -> None:
    """Fill each row's per-run convergence (val mIoU by step) and stall (final mIoU) checks."""
    for row in rows:
        found = stalls(row.values("mIoU"), settings.stall_gap, settings.stall_floor)
        row.statuses = [
            RunStatus(
                run,
                convergence(
                    run.val_steps.get("step", []),
                    run.val_steps.get("val/mIoU", []),
                    run.total_steps,
                    settings.window,
                    settings.flat_tol,
                ),
                stall,
            )
            for run, stall in zip(row.runs, found, strict=True)
        ]


def seed_test_rows(rows: list[Row], baseline: str, settings: Settings) -> None:
    """Fill each row's paired t-tests over seeds against ``baseline``, seeds needed and verdict.

    Call after :func:`bootstrap_rows`: the verdict needs both the t interval and the bootstrap one.
    """
    base = {r.seed: r for r in next(row for row in rows if row.upsampler == baseline).runs}
    for row in rows:
        if row.upsampler == baseline:
            row.verdict = "baseline"
            continue
        pairs = [(run, base[run.seed]) for run in row.runs if run.seed in base]
        for key in TESTED:
            test = paired_seed_test(
                [c.score(key) for c, _ in pairs],
                [b.score(key) for _, b in pairs],
                settings.alpha,
                settings.power,
            )
            row.tests[key] = test
            row.needed[key] = seeds_needed(
                test.sd, settings.target_diff, settings.alpha, settings.power
            )
        t, iv = row.tests["mIoU"], row.interval
        row.verdict = "inconclusive"
        if iv is not None and math.isfinite(t.low):
            if t.low > 0 and iv.low > 0:
                row.verdict = "better"
            elif t.high < 0 and iv.high < 0:
                row.verdict = "worse"


@dataclass
class PooledPower:
    """The power of the seed tests pooled over the upsamplers compared with the baseline."""

    sd: float  # pooled sd of the per-seed differences
    dof: int  # its degrees of freedom
    n: int  # the most seed pairs of any upsampler
    mdd: float  # minimal detectable difference at n seeds
    needed: float  # seeds needed to detect settings.target_diff


def pooled_power(
    rows: list[Row], baseline: str, settings: Settings
) -> dict[str, PooledPower | None]:
    """Per :data:`TESTED` key, the pooled power (None: fewer than 2 seed pairs)."""
    tested = [row for row in rows if row.upsampler != baseline]
    out: dict[str, PooledPower | None] = {}
    for key in TESTED:
        sd, dof = pooled_sd([(r.tests[key].n, r.tests[key].sd) for r in tested if key in r.tests])
        n = max((r.tests[key].n for r in tested if key in r.tests), default=0)
        if dof == 0:
            out[key] = None
            continue
        mdd = min_detectable_difference(sd, n, settings.alpha, settings.power)
        needed = seeds_needed(sd, settings.target_diff, settings.alpha, settings.power)
        out[key] = PooledPower(sd, dof, n, mdd, needed)
    return out


def largest_seed_std(rows: list[Row]) -> dict[str, tuple[float, str]]:
    """Per :data:`TESTED` key, the largest std over seeds and its upsampler (NaN, "n/a": none)."""
    worst = {}
    for key in TESTED:
        stds = [(mean_std(r.values(key))[1], r.upsampler) for r in rows]
        stds = [(v, name) for v, name in stds if math.isfinite(v)]
        worst[key] = max(stds) if stds else (math.nan, "n/a")
    return worst


def analyse(
    runs: Sequence[Run],
    baseline: str | None,
    replicates: int,
    order: Sequence[str],
    settings: Settings,
) -> tuple[list[Row], str]:
    """The rows of ``runs`` with every statistic filled, and the baseline used.

    ``baseline`` None: ``nearest`` if present, else the first upsampler.

    Raises:
        CompareError: an unknown baseline, ambiguous runs, or settings out of range.
    """
    settings.check()
    groups = group_runs(runs, order)
    if baseline is None:
        baseline = "nearest" if "nearest" in groups else next(iter(groups))
    if baseline not in groups:
        raise CompareError(
            f"--baseline {baseline} has no runs here; upsamplers found: {', '.join(groups)}"
        )
    rows = [Row(name, members) for name, members in groups.items()]
    bootstrap_rows(rows, baseline, replicates)
    check_runs(rows, settings)
    seed_test_rows(rows, baseline, settings)
    return rows, baseline
