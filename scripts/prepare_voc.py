"""Prepare Pascal VOC 2012 + SBD (train 1,464 / val 1,449 / trainaug 10,582) under data/voc.

    .venv/bin/python scripts/prepare_voc.py                       # download into data/downloads
    .venv/bin/python scripts/prepare_voc.py --archives ~/datasets # offline, archives in ~/datasets
    make voc ARGS="--archives ~/datasets"

The archives are VOCtrainval_11-May-2012.tar and benchmark.tgz (SBD), checked against their
published md5. A second run with a finished preparation in place does nothing; an interrupted run
leaves nothing half-written behind (see segkit/data/prepare.py). Train on the result with
data=voc or data=voc_aug and data.root=data/voc.
"""

from __future__ import annotations

import argparse
import signal
import sys

from segkit.data.archives import PrepareError
from segkit.data.prepare import ARCHIVES, default_archives_dir, prepare_voc


def main(argv: list[str] | None = None) -> int:
    """Run the preparation; return the exit status (0 done or already done, 1 bad input)."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="archives:\n" + "\n".join(f"  {a.name}  {a.url}  md5 {a.md5}" for a in ARCHIVES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", default="data/voc", help="destination (default: data/voc)")
    parser.add_argument(
        "--archives",
        metavar="DIR",
        help="take the archives from DIR, offline (default: downloads/ next to --root, "
        "downloading what is missing)",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never use the network; the archives must already be in the archives folder",
    )
    args = parser.parse_args(argv)
    archives_dir = args.archives or default_archives_dir(args.root)
    # SIGTERM (kill, a scheduler's timeout) would end Python without cleanup; as SystemExit it
    # unwinds like Ctrl-C, so the temporary folder is removed.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        prepare_voc(args.root, archives_dir, download=not (args.no_download or args.archives))
    # OSError: e.g. a full disk or an unwritable --root; its message names the file.
    except (PrepareError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was left half-written, run again to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
