"""
twistar's test matrix, for nox.

    nox -l                                  list the sessions
    nox -s tests -j 2                       every cell of the matrix, two at a time
    nox -s "tests-3.10(twisted='lowest')"   one cell
    nox -s wheel                            the wheel alone, on every Python

tests: the whole trial suite on SQLite, on Python 3.10, 3.11, 3.12 and 3.13,
against the lowest Twisted twistar supports (LOWEST_TWISTED) and the newest.
Each cell installs the wheel with its "test" extra and runs `trial twistar`
(the installed package), with this checkout as $TWISTAR_TEST_CHECKOUT so that
the documentation tests run too.

wheel: the wheel alone in a fresh virtualenv of each Python, as a user gets
it: examples/quickstart.py, then `trial twistar`, from an empty directory
(the tests that need a checkout, or hypothesis, skip).

Both install the wheel named by $TWISTAR_WHEEL, which scripts/run_tests.py
builds once (`make test` runs these sessions through it); without it each
session builds one. With $TWISTAR_MATRIX_RESULTS naming a directory, each
session writes there a JSON file of its trial counts, for the summary table
of scripts/run_tests.py. Pythons are found on PATH or in pyenv, never
downloaded.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The lowest Twisted release twistar supports (and pyproject.toml declares).
LOWEST_TWISTED = "22.10.0"
TWISTED = {"lowest": f"Twisted=={LOWEST_TWISTED}", "newest": "Twisted"}
_SUMMARY = re.compile(r"^(PASSED|FAILED)(?: \((.*)\))?\s*$")

nox.options.download_python = "never"
nox.options.sessions = ["tests", "wheel"]


def linkPyenvPythons() -> None:
    """
    Make the Pythons of PYTHONS that pyenv installed findable by name: pyenv's
    shims run only the versions it has selected, so link each one's
    pythonX.Y (its newest patch release) into .nox/bin, first on PATH.
    """
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    links = ROOT / ".nox" / "bin"
    for python in PYTHONS:
        found = [path for path in versions.glob(f"{python}.*/bin/python{python}")
                 if re.fullmatch(r"\d+\.\d+\.\d+", path.parent.parent.name)]
        if not found:
            continue
        newest = max(found, key=lambda path: int(path.parent.parent.name.split(".")[2]))
        links.mkdir(parents=True, exist_ok=True)
        link = links / f"python{python}"
        if link.is_symlink() and link.resolve() != newest.resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(newest)
    if links.is_dir():
        os.environ["PATH"] = os.pathsep.join([str(links), os.environ.get("PATH", "")])


linkPyenvPythons()


def wheelPath(session: nox.Session) -> str:
    """
    @return: the path of the wheel to test: $TWISTAR_WHEEL, or one built now
        from this checkout.
    """
    given = os.environ.get("TWISTAR_WHEEL")
    if given:
        return given
    outDir = Path(session.create_tmp()) / "dist"
    session.run("python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                str(outDir), str(ROOT))
    return str(next(outDir.glob("twistar-*.whl")))


def runTrial(session: nox.Session, cell: dict[str, str], **env: str) -> None:
    """
    Run `trial twistar` on SQLite, print its output, and record its counts
    for scripts/run_tests.py; fail the session if trial failed.

    @param cell: what the cell is ("kind": "tests" or "wheel"), for the
        record.
    """
    versions = session.run(
        "python", "-c",
        "import platform, twisted; print(platform.python_version(), twisted.__version__)",
        silent=True,
    )
    python, twisted = str(versions).split()
    temp = Path(session.create_tmp()) / "trial"
    began = time.monotonic()
    output = session.run(
        "trial", "--temp-directory", str(temp), "twistar",
        env={"TWISTAR_TEST_DB": "sqlite", "PYTHONUNBUFFERED": "1", **env},
        silent=True, success_codes=[0, 1],
    )
    seconds = time.monotonic() - began
    text = str(output)
    sys.stdout.write(text)
    sys.stdout.flush()
    counts: dict[str, int] = {}
    verdict = "CRASHED"
    for line in reversed(text.splitlines()):
        match = _SUMMARY.match(line.strip())
        if match:
            verdict = match.group(1)
            for part in (match.group(2) or "").split(","):
                if "=" in part:
                    key, value = part.split("=", 1)
                    counts[key.strip()] = int(value)
            break
    results = os.environ.get("TWISTAR_MATRIX_RESULTS")
    if results:
        record = {**cell, "session": session.name, "python": python, "twisted": twisted,
                  "backend": "sqlite", "verdict": verdict, "counts": counts,
                  "seconds": seconds}
        path = Path(results) / (re.sub(r"[^A-Za-z0-9.]+", "_", session.name) + ".json")
        path.write_text(json.dumps(record, indent=2) + "\n")
    if verdict != "PASSED":
        session.error(f"trial {verdict.lower()} on Python {python}, Twisted {twisted}")


@nox.session(python=PYTHONS, allow_parallel=True)
@nox.parametrize("twisted", list(TWISTED))
def tests(session: nox.Session, twisted: str) -> None:
    """
    The trial suite on SQLite, with the lowest or the newest Twisted.
    """
    session.install(f"{wheelPath(session)}[test]", TWISTED[twisted])
    runTrial(session, {"kind": "tests"}, TWISTAR_TEST_CHECKOUT=str(ROOT))


@nox.session(python=PYTHONS, allow_parallel=True)
def wheel(session: nox.Session) -> None:
    """
    The wheel alone, from an empty directory: the quick start and trial.
    """
    session.install(wheelPath(session))
    empty = Path(session.create_tmp()) / "empty"
    empty.mkdir(exist_ok=True)
    with session.chdir(empty):
        session.run("python", str(ROOT / "examples" / "quickstart.py"))
        runTrial(session, {"kind": "wheel"})
