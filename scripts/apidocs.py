#!/usr/bin/env python3
"""
Build twistar's API reference with pydoctor into C{build/apidocs}, failing
on any warning (an unresolved link, a malformed docstring).

    scripts/apidocs.py [--output DIR]

Links to Twisted's names (L{Deferred}) resolve against an inventory of the
installed Twisted, which pydoctor makes (C{--make-intersphinx}) once per
Twisted version and keeps in C{build/}: the build needs no network. The
pages link them to Twisted's published API reference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import twisted

ROOT = Path(__file__).resolve().parent.parent
TWISTED_API = "https://docs.twisted.org/en/stable/api/"
PROJECT_URL = "https://github.com/twistar/twistar"


def twistedInventory(build: Path) -> Path:
    """
    @return: the path of the intersphinx inventory of the installed
        Twisted, made first if it is not there yet.
    """
    inventory = build / f"twisted-{twisted.__version__}-objects.inv"
    if inventory.exists():
        return inventory
    package = Path(twisted.__file__).parent
    scratch = build / "twisted-inventory"
    subprocess.run(
        [sys.executable, "-m", "pydoctor", "--make-intersphinx", "--quiet",
         "--project-name=Twisted", f"--project-base-dir={package.parent}",
         f"--html-output={scratch}", str(package)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    (scratch / "objects.inv").replace(inventory)
    return inventory


def main() -> int:
    """
    Build the API reference.

    @return: the exit status: 0 without warnings.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "apidocs")
    args = parser.parse_args()
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    inventory = twistedInventory(build)
    command = [
        sys.executable, "-m", "pydoctor", "--warnings-as-errors", "--quiet",
        "--docformat=epytext", "--project-name=twistar", f"--project-url={PROJECT_URL}",
        f"--project-base-dir={ROOT}", f"--html-output={args.output}",
        f"--intersphinx-file={inventory}::{TWISTED_API}",
        "--privacy=HIDDEN:twistar.tests", "--privacy=HIDDEN:twistar.tests.*",
        str(ROOT / "twistar"),
    ]
    code = subprocess.call(command, cwd=ROOT)
    if code == 0:
        print(f"API reference: {args.output / 'index.html'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
