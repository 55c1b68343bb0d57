"""Compare finished runs: ``summary.csv``, ``report.md`` and figures.

    segkit-compare logs/compare_upsamplers/multiruns/2026-11-25_10-00-00
    segkit-compare <dir> --baseline transpose --out reports/upsamplers
    segkit-compare --wandb my-team/segkit --group compare_upsamplers   # online, W&B public API
    segkit-compare <dir> --target-diff 0.02 --power 0.9 --stall-floor 0.3

``segkit-train experiment=compare_upsamplers`` runs this itself when its sweep ends.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from segkit.compare.command import compare

    return compare(argv)


if __name__ == "__main__":
    sys.exit(main())
