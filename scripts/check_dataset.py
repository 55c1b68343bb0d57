"""Check a VOC-layout dataset: every listed image and mask read, validated and summarised.

    .venv/bin/python scripts/check_dataset.py ../shared/voc2012-samples
    .venv/bin/python scripts/check_dataset.py data/voc --splits train val --mask-dir SegmentationClassAug
    .venv/bin/python scripts/check_dataset.py data/synthetic --classes synthetic

Prints the image count of each split, the pixel histogram per class, the image sizes, and one line
per problem (missing, corrupt or truncated files, masks that are not palette/grey, wrong sizes,
values outside the classes). Exits 1 when there is a problem.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from segkit.data.audit import scan_dataset, void_share
from segkit.data.palette import VOID_INDEX
from segkit.data.synthetic import CLASS_NAMES as SYNTHETIC_CLASSES
from segkit.data.voc import VOC_CLASSES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a VOC-layout segmentation dataset.")
    parser.add_argument("root", help="folder holding VOCdevkit/VOC2012 (or VOC2012 itself)")
    parser.add_argument("--splits", nargs="*", help="split lists to check (default: all)")
    parser.add_argument("--classes", choices=["voc", "synthetic"], default="voc")
    parser.add_argument("--mask-dir", default="SegmentationClass")
    args = parser.parse_args(argv)
    names = VOC_CLASSES if args.classes == "voc" else SYNTHETIC_CLASSES
    console = Console()
    try:
        report = scan_dataset(args.root, args.splits, len(names), args.mask_dir)
    except (FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}", soft_wrap=True)
        return 1

    splits = Table(title=f"splits of {args.root}")
    splits.add_column("split")
    splits.add_column("images", justify="right")
    for split, count in report.split_counts.items():
        splits.add_row(split, str(count))
    console.print(splits)

    total = max(1, int(report.class_pixels.sum()))
    hist = Table(title=f"class pixels over {report.checked} checked images")
    for col in ("index", "class", "pixels", "share"):
        hist.add_column(col, justify="right" if col != "class" else "left")
    for index, name in [*enumerate(names), (VOID_INDEX, "void")]:
        count = int(report.class_pixels[index])
        hist.add_row(str(index), name, f"{count:,}", f"{100 * count / total:.2f}%")
    console.print(hist)
    common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in report.sizes.most_common(5))
    console.print(f"{len(report.sizes)} distinct sizes; most common: {common}")
    console.print(f"void share: {100 * void_share(report):.2f}%")

    if report.problems:
        console.print(f"[red]{len(report.problems)} problem(s):[/red]")
        for line in report.problems:
            console.print(f"  {line}", soft_wrap=True, markup=False)
        return 1
    console.print("[green]no problems found[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
