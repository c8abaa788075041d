#!/usr/bin/env python3
"""
Run twistar's checks and test suite against every backend.

    scripts/run_tests.py [--backend sqlite|postgres|postgres-nothreads|pgbouncer|
                                    pgbouncer-psycopg|mysql ...]
                         [--url URL]
                         [--skip-lint] [--package] [--matrix]
                         [trial args / test names]

Steps:

 1. C{ruff check} (the package, examples, bench, scripts), C{mypy twistar}
    and the API reference (C{scripts/apidocs.py}: pydoctor, no warning
    allowed) (their findings fail the run, but the tests run anyway);
 2. for each backend (default: sqlite, postgres, postgres-nothreads,
    pgbouncer, pgbouncer-psycopg, mysql), run C{python -m twisted.trial twistar}
    against throwaway servers on loopback (see C{scripts/servers.py}),
    unless C{--url} names an existing database.  The servers start in the
    background, concurrently, while the runs before theirs go on: for
    PostgreSQL a primary, a streaming hot standby of it and (for the
    C{pgbouncer} backends) PgBouncer in front of the primary; for MariaDB a
    primary writing a binary log and a GTID replica of it.  Each run gets:
     - C{TWISTAR_TEST_DB}: C{sqlite}, or the URL of the primary
       (C{postgresql://postgres@127.0.0.1:PORT/twistar_test},
       C{mysql://root@127.0.0.1:PORT/twistar_test}) or of PgBouncer
       (C{postgresql://...} for C{pgbouncer}, psycopg2;
       C{postgresql+psycopg://...} for C{pgbouncer-psycopg}, psycopg 3;
       C{postgresql+psycopg://...?threads=false} on the primary for
       C{postgres-nothreads}, a L{twistar.pgpool.PostgresPool});
     - C{TWISTAR_TEST_SERVER_STATE}: path of the primary's JSON state file
       (only for servers this script started), which
       L{twistar.tests.servercontrol.serverFromEnvironment} reads;
     - C{TWISTAR_TEST_REPLICA} and C{TWISTAR_TEST_REPLICA_STATE}: the URL
       and the state file of the primary's replica (the standby or the
       MariaDB replica; L{twistar.tests.servercontrol.replicaFromEnvironment});
 3. stop the servers (each set once its last run is over; always);
 4. with C{--package} or C{--matrix}, build the sdist and the wheel
    (C{python -m build}, the wheel from the sdist); with C{--package}, check
    them (C{twine check --strict}, C{check-manifest}) and run the nox
    sessions C{wheel}: the wheel alone in a fresh virtualenv of each Python,
    running C{examples/quickstart.py} and C{trial twistar}; with
    C{--matrix}, run the nox sessions C{tests}: the whole suite on SQLite on
    each Python against the lowest and the newest Twisted (see
    C{noxfile.py}), C{--jobs} sessions at a time;
 5. print a summary table (a row per trial run: Python, Twisted, backend,
    counts, seconds) and a last line C{N passed, N failed[, N skipped]}
    (a failed check counts as one failure, and so does, under CI, a server
    that failed to start).

C{make test} runs it with C{--package --matrix}.

Exit status is non-zero if a trial run or a check (ruff, mypy, build, twine,
check-manifest) failed, or (with C{CI=true} in the environment) a server (a
primary, a replica or PgBouncer) could not be started or a Python of the
matrix is missing. Outside CI a primary or PgBouncer that cannot start is
reported and its backends skipped, a replica that cannot start is reported
and its backends run without one, and a missing Python is reported.

If C{TWISTAR_TEST_DB} is already set and no C{--backend} is given, only that
backend runs, against that database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version as installedVersion
from pathlib import Path
from typing import Optional

from servers import (  # scripts/servers.py, beside this script
    REPLICA_ENV_VAR,
    REPLICA_STATE_ENV_VAR,
    STATE_ENV_VAR,
    DatabaseServer,
    MariaDBReplica,
    MariaDBServer,
    PgBouncerServer,
    PostgresServer,
    PostgresStandby,
)

DB_ENV_VAR = "TWISTAR_TEST_DB"
BACKENDS = ("sqlite", "postgres", "postgres-nothreads", "pgbouncer", "pgbouncer-psycopg",
            "mysql")
#: Other names C{--backend} accepts.
BACKEND_ALIASES = {"postgresql": "postgres", "mariadb": "mysql"}
#: The server set (see L{ServerSet}) each server backend runs against.
SERVER_SETS = {"postgres": "postgres", "postgres-nothreads": "postgres", "pgbouncer": "postgres",
               "pgbouncer-psycopg": "postgres", "mysql": "mysql"}
#: The URL scheme and query string (driver options) of each PgBouncer backend;
#: L{pgbouncerURL} builds their URLs.
PGBOUNCER_URLS = {
    "pgbouncer": ("postgresql", "transaction_pooling=true"),
    "pgbouncer-psycopg": ("postgresql+psycopg", "transaction_pooling=true"),
}
#: The URL scheme and query string of each backend run on the PostgreSQL
#: primary other than C{postgres}: C{postgres-nothreads} is twistar's
#: PostgresPool (psycopg 3 in greenlets, no thread).
PRIMARY_URLS = {
    "postgres-nothreads": ("postgresql+psycopg", "threads=false"),
}
SCHEMES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
SUMMARY_RE = re.compile(r"^(PASSED|FAILED)(?: \((.*)\))?\s*$")
ROOT = Path(__file__).resolve().parent.parent
#: The nox sessions of C{--matrix} and C{--package} (see noxfile.py).
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
MATRIX_SESSIONS = tuple("tests-%s(twisted='%s')" % (python, twisted)
                        for python in PYTHONS for twisted in ("lowest", "newest"))
WHEEL_SESSIONS = tuple("wheel-%s" % python for python in PYTHONS)


@dataclass
class RunResult:
    backend: str
    python: str = ""
    twisted: str = ""
    kind: str = "suite"  # "suite" (this virtualenv), "matrix" or "wheel" (nox sessions)
    status: str = "not run"  # "passed", "failed", "not run", "crashed"
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    expectedFailures: int = 0
    unexpectedSuccesses: int = 0
    seconds: float = 0.0
    note: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def banner(message: str) -> None:
    line = "=" * 78
    print("\n%s\n%s\n%s" % (line, message, line), flush=True)


@dataclass
class CheckResult:
    name: str
    ok: bool
    seconds: float


def runCheck(name: str, argv: list[str], checks: list[CheckResult]) -> bool:
    """
    Run a check (lint, type, packaging), streaming its output, and add its
    result to C{checks}.

    @return: whether it passed.
    """
    banner("%s: %s" % (name, " ".join(argv)))
    began = time.monotonic()
    try:
        code = subprocess.call(argv, cwd=ROOT, stdin=subprocess.DEVNULL)
    except OSError as e:
        print("cannot run %s: %s" % (name, e), flush=True)
        code = -1
    checks.append(CheckResult(name, code == 0, time.monotonic() - began))
    print("%s: %s" % (name, "ok" if code == 0 else "FAILED (exit %d)" % code), flush=True)
    return code == 0


def parseSummary(lines: list[str]) -> Optional[tuple[str, dict[str, int]]]:
    """
    Find trial's closing summary line.

    @return: C{("PASSED"|"FAILED", {"successes": N, ...})}, or L{None}.
    """
    for line in reversed(lines):
        match = SUMMARY_RE.match(line.strip())
        if match:
            counts: dict[str, int] = {}
            for part in (match.group(2) or "").split(","):
                if "=" in part:
                    key, value = part.split("=", 1)
                    try:
                        counts[key.strip()] = int(value.strip())
                    except ValueError:
                        pass
            return match.group(1), counts
    return None


def stopProcessGroup(proc: subprocess.Popen[str]) -> None:
    """
    Stop a process and everything in its process group: SIGINT, then SIGTERM,
    then SIGKILL, a few seconds apart.
    """
    for sig, grace in ((signal.SIGINT, 3.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Whatever is left in the group (e.g. trial's -j workers).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def runStreamed(label: str, argv: list[str], env: dict[str, str],
                timeout: float) -> tuple[Optional[int], list[str], float]:
    """
    Run C{argv} in C{ROOT}, streaming its output, in a process group of its
    own, so that an interrupted or timed-out run is stopped completely
    (trial's C{-j} workers, nox's sessions).

    @return: its exit status (L{None} if it was stopped after C{timeout}
        seconds), the last few hundred lines it printed, and its duration.
    """
    began = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, errors="replace", bufsize=1,
                            start_new_session=True)
    timedOut = threading.Event()

    def onTimeout() -> None:
        timedOut.set()
        sys.stdout.write("\n!!! %s still running after %ss: stopping it\n" % (label, timeout))
        stopProcessGroup(proc)

    watchdog = threading.Timer(timeout, onTimeout) if timeout > 0 else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
            if len(lines) > 400:
                del lines[:200]
        code = proc.wait()
    except BaseException:
        stopProcessGroup(proc)
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
    return (None if timedOut.is_set() else code), lines, time.monotonic() - began


def runTrial(backend: str, dbValue: str, stateFile: Optional[str],
             trialArgs: list[str], timeout: float = 0,
             replica: Optional[tuple[str, str]] = None) -> RunResult:
    """
    Run trial once, streaming its output, and parse its summary.

    @param replica: the URL and the state file of a replica of the database.
    """
    result = RunResult(backend, platform.python_version(), installedVersion("Twisted"))
    env = dict(os.environ)
    env[DB_ENV_VAR] = dbValue
    env["PYTHONUNBUFFERED"] = "1"
    if stateFile:
        env[STATE_ENV_VAR] = stateFile
    else:
        env.pop(STATE_ENV_VAR, None)
    if replica:
        env[REPLICA_ENV_VAR], env[REPLICA_STATE_ENV_VAR] = replica
    else:
        env.pop(REPLICA_ENV_VAR, None)
        env.pop(REPLICA_STATE_ENV_VAR, None)
    argv = [sys.executable, "-m", "twisted.trial",
            "--temp-directory", "_trial_temp.%s" % backend, *trialArgs]
    banner("trial [%s]: %s=%s\n%s" % (backend, DB_ENV_VAR, dbValue, " ".join(argv)))
    code, lines, result.seconds = runStreamed("trial [%s]" % backend, argv, env, timeout)
    if code is None:
        result.status = "timed out"
        result.errors = 1
        result.note = "killed after %ss" % timeout
        return result
    summary = parseSummary(lines)
    if summary is None:
        result.status = "crashed"
        result.errors = 1
        result.note = "trial exited %d without a summary" % code
        return result
    applyCounts(result, *summary, code == 0)
    return result


def applyCounts(result: RunResult, verdict: str, counts: dict[str, int], exitOk: bool) -> None:
    """
    Set C{result}'s counts and status from trial's summary.
    """
    result.counts = counts
    result.passed = counts.get("successes", 0)
    result.failed = counts.get("failures", 0)
    result.errors = counts.get("errors", 0)
    result.skipped = counts.get("skips", 0)
    result.expectedFailures = counts.get("expectedFailures", 0)
    result.unexpectedSuccesses = counts.get("unexpectedSuccesses", 0)
    ok = verdict == "PASSED" and exitOk
    ran = sum(counts.get(k, 0) for k in ("successes", "failures", "errors", "skips",
                                          "expectedFailures", "unexpectedSuccesses"))
    if ok and ran == 0:
        result.status = "no tests"
        result.errors = 1
        result.note = "trial ran no test"
        return
    result.status = "passed" if ok else "failed"
    if not ok and result.failed + result.errors == 0:
        # trial failed without counting a failure (e.g. exit code without summary
        # counts, or no tests found): make sure it shows as a failure.
        result.errors = 1
        result.note = "exit status not 0 (trial said %s)" % verdict


def buildDistributions(outDir: Path, checks: list[CheckResult]) -> Optional[Path]:
    """
    Build the sdist, and the wheel from it, into C{outDir}.

    @return: the wheel, or L{None} if the build failed.
    """
    if not runCheck("build", [sys.executable, "-m", "build", "--outdir", str(outDir),
                              str(ROOT)], checks):
        return None
    wheels = sorted(outDir.glob("twistar-*.whl"))
    return wheels[0] if wheels else None


def checkDistributions(outDir: Path, checks: list[CheckResult]) -> None:
    """
    Check the built distributions' metadata (C{twine check --strict}: the
    README renders on PyPI) and the sdist's contents against the files under
    version control (C{check-manifest}).
    """
    dists = sorted(str(path) for path in outDir.iterdir())
    runCheck("twine", [sys.executable, "-m", "twine", "check", "--strict", *dists], checks)
    runCheck("check-manifest", [sys.executable, "-m", "check_manifest", str(ROOT)], checks)


def runNox(sessions: list[str], wheel: Optional[Path], jobs: int, timeout: float,
           inCI: bool) -> list[RunResult]:
    """
    Run nox C{sessions} (see noxfile.py), C{jobs} at a time, on the built
    C{wheel}, and collect the trial counts each one records.

    @return: a result per session.
    """
    resultsDir = Path(tempfile.mkdtemp(prefix="twistar-nox-"))
    report = resultsDir / "report.json"
    env = dict(os.environ)
    for name in (DB_ENV_VAR, STATE_ENV_VAR, REPLICA_ENV_VAR, REPLICA_STATE_ENV_VAR,
                 "TWISTAR_TEST_CHECKOUT", "PYTHONPATH"):
        env.pop(name, None)
    env["TWISTAR_MATRIX_RESULTS"] = str(resultsDir)
    if wheel is not None:
        env["TWISTAR_WHEEL"] = str(wheel)
    argv = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
            "--report", str(report), "--parallel", str(jobs), "--no-stop-on-first-error"]
    if inCI:
        argv.append("--error-on-missing-interpreters")
    argv += ["--sessions", *sessions]
    banner("nox: %d sessions, %d at a time\n%s" % (len(sessions), jobs, " ".join(argv)))
    code, _, seconds = runStreamed("nox", argv, env, timeout)
    # The report names a session by its function ("name") and by the names
    # it can be selected by ("signatures", such as "wheel-3.12").
    outcomes = {}
    try:
        for entry in json.loads(report.read_text())["sessions"]:
            for signature in entry.get("signatures") or [entry["name"]]:
                outcomes[signature] = entry
    except (OSError, ValueError, KeyError):
        pass
    recorded = {}
    for path in resultsDir.glob("*.json"):
        if path != report:
            record = json.loads(path.read_text())
            recorded[record["session"]] = record
    shutil.rmtree(resultsDir, ignore_errors=True)
    results = []
    for session in sessions:
        record = recorded.get(session)
        outcome = outcomes.get(session, {})
        kind = "wheel" if session.startswith("wheel") else "matrix"
        result = RunResult("sqlite", kind=kind)
        result.note = session
        if record is not None:
            result.python, result.twisted = record["python"], record["twisted"]
            result.seconds = record["seconds"]
            applyCounts(result, record["verdict"], record["counts"],
                        outcome.get("result") == "success")
            if outcome.get("result") not in (None, "success"):
                result.note += "; %s" % (outcome.get("reason") or outcome["result"])
        else:
            result.python = session.split("-", 1)[1].split("(", 1)[0]
            result.seconds = outcome.get("duration", 0.0)
            if outcome.get("result") == "skipped" and not inCI:
                result.note += "; skipped: %s" % outcome.get("reason")
            else:
                result.status = "crashed"
                result.errors = 1
                result.note += "; %s" % (outcome.get("reason") or outcome.get("result")
                                         or ("nox timed out" if code is None
                                             else "nox exited %s" % code))
        results.append(result)
    print("nox: %d sessions in %.1fs" % (len(sessions), seconds), flush=True)
    return results


class ServerSet:
    """
    The throwaway servers of one database: a primary and the servers that
    follow it (role C{"replica"}: a standby or a replica; C{"pgbouncer"}),
    started in a thread of their own (L{begin}), so that several sets start
    at once and while other runs go on.

    @ivar name: C{"postgres"} or C{"mysql"}.
    @ivar servers: the servers by role (C{"primary"} first).
    @ivar problems: the error message of each server that failed to start,
        by role.
    @ivar stateFiles: the JSON state file of each server that started, by role.
    """

    def __init__(self, name: str, serverDir: Path, pgbouncer: bool = False) -> None:
        """
        @param name: C{"postgres"} or C{"mysql"}.
        @param serverDir: the directory for the servers' files.
        @param pgbouncer: for C{"postgres"}, whether to put PgBouncer in front
            of the primary.
        """
        self.name = name
        self.serverDir = serverDir
        primary: DatabaseServer
        if name == "postgres":
            primary = PostgresServer(serverDir)
            self.servers = {"primary": primary,
                            "replica": PostgresStandby.forPrimary(primary, serverDir)}
            if pgbouncer:
                self.servers["pgbouncer"] = PgBouncerServer.forPrimary(primary, serverDir)
        else:
            primary = MariaDBServer(serverDir, logBin=True)
            self.servers = {"primary": primary,
                            "replica": MariaDBReplica.forPrimary(primary, serverDir)}
        self.problems: dict[str, str] = {}
        self.stateFiles: dict[str, str] = {}
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._start, name="start " + name, daemon=True)

    def begin(self) -> None:
        """
        Start the servers in the background: the primary, then the others.
        """
        self._thread.start()

    def wait(self) -> None:
        """
        Wait until L{begin}'s thread is done.
        """
        if self._thread.ident is not None:
            self._thread.join()

    def _start(self) -> None:
        began = time.monotonic()
        for role, server in self.servers.items():
            if "primary" in self.problems:
                self.problems[role] = "%s %s not started: the primary failed" % (self.name,
                                                                                  role)
                continue
            try:
                server.start()
            except Exception as e:  # a server that failed, not the run
                self.problems[role] = "%s %s failed to start: %s" % (self.name, role, e)
                continue
            stateFile = self.serverDir / ("%s-%s.state.json" % (self.name, role))
            server.writeState(stateFile)
            self.stateFiles[role] = str(stateFile)
        self.seconds = time.monotonic() - began

    def ensureRunning(self) -> None:
        """
        Start again the servers that started but are down now (a test may
        have left one stopped).
        """
        for role, server in self.servers.items():
            if role in self.stateFiles and not server.isRunning():
                try:
                    server.start()
                except Exception as e:
                    self.problems[role] = "%s %s failed to restart: %s" % (self.name, role, e)
                    del self.stateFiles[role]

    def stop(self) -> None:
        """
        Stop the servers (the followers first).
        """
        self.wait()
        for server in reversed(list(self.servers.values())):
            try:
                server.stop()
            except Exception as e:  # keep stopping the others
                print("error stopping %r: %s" % (server, e), flush=True)

    def timing(self) -> str:
        """
        @return: how long each server took to start, e.g. C{"servers started
            in 2.1s: primary 1.2s, replica 0.8s"}.
        """
        parts = ["%s %.1fs" % (role, server.startSeconds)
                 for role, server in self.servers.items() if server.startSeconds is not None]
        if not parts:
            return "no server started"
        return "servers started in %.1fs: %s" % (self.seconds, ", ".join(parts))


def pgbouncerURL(backend: str, server: DatabaseServer) -> str:
    """
    @return: the URL through PgBouncer C{server} for the PgBouncer backend
        C{backend} (its scheme picks the driver), from L{PGBOUNCER_URLS}.
    """
    scheme, query = PGBOUNCER_URLS[backend]
    url = scheme + server.url[server.url.index("://"):]
    return url + "?" + query if query else url


def runOnServers(backend: str, serverSet: ServerSet, trialArgs: list[str],
                 timeout: float) -> RunResult:
    """
    Run trial for a server C{backend} against its (started) C{serverSet}.
    """
    problems = serverSet.problems
    needed = "pgbouncer" if backend in PGBOUNCER_URLS else "primary"
    for role in ("primary", needed):
        if role in problems:
            banner("!!! %s\n!!! the %s backend is NOT TESTED" % (problems[role], backend))
            return RunResult(backend, note="%s failed to start" % role)
    if backend in PGBOUNCER_URLS:
        url = pgbouncerURL(backend, serverSet.servers["pgbouncer"])
    else:
        url = serverSet.servers["primary"].url
        if backend in PRIMARY_URLS:
            scheme, query = PRIMARY_URLS[backend]
            url = scheme + url[url.index("://"):] + "?" + query
    replica = None
    if "replica" in problems:
        banner("!!! %s\n!!! the %s backend is tested WITHOUT A REPLICA"
               % (problems["replica"], backend))
    else:
        replica = (serverSet.servers["replica"].url, serverSet.stateFiles["replica"])
    result = runTrial(backend, url, serverSet.stateFiles["primary"], trialArgs, timeout,
                      replica)
    if "replica" in problems:
        result.note = "no replica"
    return result


def backendOfUrl(url: str) -> str:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        raise SystemExit("unknown database URL scheme in %r" % (url,))
    return SCHEMES[scheme]


def parseArgs(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description="Run ruff, mypy and the trial suite against sqlite, PostgreSQL"
                    " (directly and through PgBouncer) and MariaDB.  Unknown arguments are"
                    " passed to trial.")
    parser.add_argument("--backend", action="append",
                        choices=BACKENDS + tuple(BACKEND_ALIASES),
                        help="backend to test (repeatable; default: sqlite, postgres,"
                             " postgres-nothreads, pgbouncer, pgbouncer-psycopg, mysql)")
    parser.add_argument("--url", help="use this existing database instead of starting a"
                                      " server (needs exactly one --backend)")
    parser.add_argument("--timeout", type=float,
                        default=float(os.environ.get("TWISTAR_TEST_RUN_TIMEOUT", "1500")),
                        help="seconds after which one trial run is killed (0: never;"
                             " default 1500, or $TWISTAR_TEST_RUN_TIMEOUT)")
    parser.add_argument("--skip-lint", action="store_true",
                        help="do not run ruff, mypy and pydoctor")
    parser.add_argument("--keep-servers", action="store_true",
                        help="do not delete the servers' data directory at the end")
    parser.add_argument("--package", action="store_true",
                        help="build the sdist and wheel, check them (twine, check-manifest)"
                             " and test the wheel alone on every Python (nox: wheel)")
    parser.add_argument("--matrix", action="store_true",
                        help="run the suite on SQLite on every Python against the lowest"
                             " and newest Twisted (nox: tests)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="nox sessions run at a time (default 2)")
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    return args, rest


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv: Optional[list[str]] = None) -> int:
    # Stop the servers on SIGTERM (e.g. a CI timeout) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _terminated)
    args, trialArgs = parseArgs(sys.argv[1:] if argv is None else argv)
    if all(arg.startswith("-") for arg in trialArgs):
        # Only trial options (e.g. -j2): test the whole package.
        trialArgs = [*trialArgs, "twistar"]
    inCI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

    backends: list[str]
    urls: dict[str, str] = {}
    if args.backend:
        backends = [BACKEND_ALIASES.get(b, b) for b in args.backend]
        if args.url:
            external = [b for b in backends if b != "sqlite"]
            if len(external) != 1 or external[0] not in ("postgres", "mysql"):
                raise SystemExit("--url needs exactly one --backend postgres|mysql")
            if backendOfUrl(args.url) != external[0]:
                raise SystemExit("--url %s is not a %s URL" % (args.url, external[0]))
            urls[external[0]] = args.url
    elif args.url or os.environ.get(DB_ENV_VAR):
        url = args.url or os.environ[DB_ENV_VAR]
        backend = backendOfUrl(url)
        backends = [backend]
        if backend != "sqlite":
            urls[backend] = url
    else:
        backends = list(BACKENDS)
    backends = list(dict.fromkeys(backends))

    checks: list[CheckResult] = []
    if not args.skip_lint:
        runCheck("ruff", [sys.executable, "-m", "ruff", "check", "twistar", "examples", "bench",
                          "scripts", "noxfile.py"], checks)
        runCheck("mypy", [sys.executable, "-m", "mypy", "twistar"], checks)
        runCheck("pydoctor", [sys.executable, "scripts/apidocs.py"], checks)

    results: list[RunResult] = []
    serverProblems: list[str] = []
    serverDir = Path(tempfile.mkdtemp(prefix="twistar-test-servers-"))
    timings: dict[str, str] = {}
    interrupted = False
    # The server sets the runs need, started at once in the background, and
    # the last run of each (after which it stops).
    serverSets: dict[str, ServerSet] = {}
    lastRun: dict[str, str] = {}
    for backend in backends:
        if backend in SERVER_SETS and backend not in urls:
            lastRun[SERVER_SETS[backend]] = backend
    try:
        for name in lastRun:
            serverSets[name] = ServerSet(name, serverDir, pgbouncer=any(
                b in PGBOUNCER_URLS for b in backends))
            banner("starting the %s servers in %s (in the background)" % (name, serverDir))
            serverSets[name].begin()
        for backend in backends:
            if backend == "sqlite":
                results.append(runTrial("sqlite", "sqlite", None, trialArgs, args.timeout))
                continue
            if backend in urls:
                results.append(runTrial(backend, urls[backend], None, trialArgs,
                                          args.timeout))
                continue
            serverSet = serverSets[SERVER_SETS[backend]]
            if serverSet.name not in timings:
                serverSet.wait()
                timings[serverSet.name] = serverSet.timing()
                print("%s: %s" % (serverSet.name, timings[serverSet.name]), flush=True)
                for role, server in serverSet.servers.items():
                    print("  %-9s %s" % (role, server.url if role in serverSet.stateFiles
                                         else "FAILED TO START"), flush=True)
            else:
                serverSet.ensureRunning()
            result = runOnServers(backend, serverSet, trialArgs, args.timeout)
            result.note = "; ".join(filter(None, [result.note, timings[serverSet.name]]))
            results.append(result)
            if lastRun[serverSet.name] == backend:
                serverSet.stop()
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted", flush=True)
    finally:
        for serverSet in serverSets.values():
            serverSet.stop()
            serverProblems.extend(serverSet.problems.values())
        if args.keep_servers:
            print("server files kept in %s" % serverDir, flush=True)
        else:
            shutil.rmtree(serverDir, ignore_errors=True)

    if (args.package or args.matrix) and not interrupted:
        distDir = Path(tempfile.mkdtemp(prefix="twistar-dist-"))
        try:
            wheel = buildDistributions(distDir, checks)
            if args.package and wheel is not None:
                checkDistributions(distDir, checks)
            sessions = [*(MATRIX_SESSIONS if args.matrix else ()),
                        *(WHEEL_SESSIONS if args.package else ())]
            if wheel is not None:
                results.extend(runNox(sessions, wheel, args.jobs, args.timeout, inCI))
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted", flush=True)
        finally:
            shutil.rmtree(distDir, ignore_errors=True)

    # -- report --------------------------------------------------------------
    banner("summary")
    width = max([8, *(len(r.backend) for r in results)])
    header = "%-6s %-7s %-8s %-*s %-9s %7s %7s %7s %7s %8s  %s" % (
        "run", "python", "twisted", width, "backend", "status", "passed", "failed", "errors",
        "skipped", "seconds", "note")
    print(header)
    print("-" * len(header))
    for r in results:
        extra = []
        if r.expectedFailures:
            extra.append("%d expected failures" % r.expectedFailures)
        if r.unexpectedSuccesses:
            extra.append("%d unexpected successes" % r.unexpectedSuccesses)
        if r.note:
            extra.append(r.note)
        print("%-6s %-7s %-8s %-*s %-9s %7d %7d %7d %7d %8.1f  %s" % (
            r.kind, r.python, r.twisted, width, r.backend, r.status, r.passed, r.failed, r.errors,
            r.skipped, r.seconds, "; ".join(extra)))
    if checks:
        print("checks: " + ", ".join("%s %s (%.1fs)" % (c.name, "ok" if c.ok else "FAILED",
                                                         c.seconds) for c in checks))
    for check in checks:
        if not check.ok:
            print("!!! %s failed" % check.name)
    for problem in serverProblems:
        print("!!! %s" % problem.splitlines()[0])
    if interrupted:
        print("!!! interrupted: not every run finished")
    sys.stdout.write("\n")

    totalPassed = sum(r.passed for r in results)
    totalFailed = sum(r.failed + r.errors for r in results) + sum(not c.ok for c in checks)
    if inCI:
        totalFailed += len(serverProblems)
    totalSkipped = sum(r.skipped for r in results)
    final = "%d passed, %d failed" % (totalPassed, totalFailed)
    if totalSkipped:
        final += ", %d skipped" % totalSkipped
    print(final, flush=True)

    ran = [r for r in results if r.status != "not run"]
    failed = (
        interrupted
        or not all(c.ok for c in checks)
        or not ran
        or any(r.status != "passed" for r in ran)
        or (inCI and bool(serverProblems))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

