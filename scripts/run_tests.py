#!/usr/bin/env python3
"""
Run twistar's checks and test suite against every backend.

    scripts/run_tests.py [--backend sqlite|postgres|mysql ...] [--url URL]
                         [--skip-lint] [trial args / test names]

Steps:

 1. C{ruff check} (the package, examples, bench, scripts) and C{mypy twistar}
    (their findings fail the run, but the tests run anyway);
 2. for each backend (default: sqlite, postgres, mysql), start a throwaway
    server on loopback (see L{twistar.tests.servers}) unless C{--url} names
    an existing one, and run C{python -m twisted.trial twistar} with:
     - C{TWISTAR_TEST_DB}: C{sqlite}, or the server's URL
       (C{postgresql://postgres@127.0.0.1:PORT/twistar_test},
       C{mysql://root@127.0.0.1:PORT/twistar_test});
     - C{TWISTAR_TEST_SERVER_STATE}: path of the server's JSON state file
       (only for servers this script started), which
       L{twistar.tests.servers.serverFromEnvironment} reads;
 3. stop the servers (always), print a summary table and a last line
    C{N passed, N failed[, N skipped]}.

Exit status is non-zero if a trial run failed, ruff or mypy found something,
or (with C{CI=true} in the environment) a server could not be started.
Outside CI a server that cannot start is reported and its backend skipped.

If C{TWISTAR_TEST_DB} is already set and no C{--backend} is given, only that
backend runs, against that database.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twistar.tests.servers import (  # noqa: E402
    STATE_ENV_VAR,
    DatabaseServer,
    MariaDBServer,
    PostgresServer,
    ServerError,
)

DB_ENV_VAR = "TWISTAR_TEST_DB"
BACKENDS = ("sqlite", "postgres", "mysql")
SCHEMES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
SUMMARY_RE = re.compile(r"^(PASSED|FAILED)(?: \((.*)\))?\s*$")


@dataclass
class RunResult:
    backend: str
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


def runCheck(name: str, argv: list[str]) -> bool:
    """
    Run a lint/type check, streaming its output.

    @return: whether it passed.
    """
    banner("%s: %s" % (name, " ".join(argv)))
    try:
        code = subprocess.call(argv, cwd=ROOT)
    except OSError as e:
        print("cannot run %s: %s" % (name, e), flush=True)
        return False
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


def runTrial(backend: str, dbValue: str, stateFile: Optional[str],
             trialArgs: list[str], timeout: float = 0) -> RunResult:
    """
    Run trial once, streaming its output, and parse its summary.
    """
    result = RunResult(backend)
    env = dict(os.environ)
    env[DB_ENV_VAR] = dbValue
    env["PYTHONUNBUFFERED"] = "1"
    if stateFile:
        env[STATE_ENV_VAR] = stateFile
    else:
        env.pop(STATE_ENV_VAR, None)
    argv = [sys.executable, "-m", "twisted.trial",
            "--temp-directory", "_trial_temp.%s" % backend, *trialArgs]
    banner("trial [%s]: %s=%s\n%s" % (backend, DB_ENV_VAR, dbValue, " ".join(argv)))
    began = time.monotonic()
    lines: list[str] = []
    # trial (and its -j workers) get a process group of their own, so that an
    # interrupted or timed-out run can be stopped completely.
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, errors="replace", bufsize=1,
                            start_new_session=True)
    timedOut = threading.Event()

    def onTimeout() -> None:
        timedOut.set()
        sys.stdout.write("\n!!! trial [%s] still running after %ss: stopping it\n"
                         % (backend, timeout))
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
    if timedOut.is_set():
        result.seconds = time.monotonic() - began
        result.status = "timed out"
        result.errors = 1
        result.note = "killed after %ss" % timeout
        return result
    result.seconds = time.monotonic() - began
    summary = parseSummary(lines)
    if summary is None:
        result.status = "crashed"
        result.errors = 1
        result.note = "trial exited %d without a summary" % code
        return result
    verdict, counts = summary
    result.counts = counts
    result.passed = counts.get("successes", 0)
    result.failed = counts.get("failures", 0)
    result.errors = counts.get("errors", 0)
    result.skipped = counts.get("skips", 0)
    result.expectedFailures = counts.get("expectedFailures", 0)
    result.unexpectedSuccesses = counts.get("unexpectedSuccesses", 0)
    ok = verdict == "PASSED" and code == 0
    ran = sum(counts.get(k, 0) for k in ("successes", "failures", "errors", "skips",
                                          "expectedFailures", "unexpectedSuccesses"))
    if ok and ran == 0:
        result.status = "no tests"
        result.errors = 1
        result.note = "trial ran no test"
        return result
    result.status = "passed" if ok else "failed"
    if not ok and result.failed + result.errors == 0:
        # trial failed without counting a failure (e.g. exit code without summary
        # counts, or no tests found): make sure it shows as a failure.
        result.errors = 1
        result.note = "trial exited %d (%s)" % (code, verdict)
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
                    " and MariaDB.  Unknown arguments are passed to trial.")
    parser.add_argument("--backend", action="append", choices=BACKENDS + ("postgresql",
                                                                          "mariadb"),
                        help="backend to test (repeatable; default: all three)")
    parser.add_argument("--url", help="use this existing database instead of starting a"
                                      " server (needs exactly one --backend)")
    parser.add_argument("--timeout", type=float,
                        default=float(os.environ.get("TWISTAR_TEST_RUN_TIMEOUT", "1500")),
                        help="seconds after which one trial run is killed (0: never;"
                             " default 1500, or $TWISTAR_TEST_RUN_TIMEOUT)")
    parser.add_argument("--skip-lint", action="store_true", help="do not run ruff and mypy")
    parser.add_argument("--keep-servers", action="store_true",
                        help="do not delete the servers' data directory at the end")
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
        backends = [SCHEMES[b] for b in args.backend]
        if args.url:
            external = [b for b in backends if b != "sqlite"]
            if len(external) != 1:
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

    lintOk = True
    lintNotes: list[str] = []
    if not args.skip_lint:
        ruff = [sys.executable, "-m", "ruff", "check", "twistar", "examples", "bench", "scripts"]
        if not runCheck("ruff", ruff):
            lintOk = False
            lintNotes.append("ruff check failed")
        if not runCheck("mypy", [sys.executable, "-m", "mypy", "twistar"]):
            lintOk = False
            lintNotes.append("mypy failed")

    results: list[RunResult] = []
    serverProblems: list[str] = []
    servers: list[DatabaseServer] = []
    serverDir = Path(tempfile.mkdtemp(prefix="twistar-test-servers-"))
    timings: dict[str, str] = {}
    interrupted = False
    try:
        for backend in backends:
            if backend == "sqlite":
                results.append(runTrial("sqlite", "sqlite", None, trialArgs, args.timeout))
                continue
            if backend in urls:
                results.append(runTrial(backend, urls[backend], None, trialArgs,
                                          args.timeout))
                continue
            klass = PostgresServer if backend == "postgres" else MariaDBServer
            server = klass(serverDir)
            servers.append(server)
            banner("starting %s server in %s" % (backend, server.baseDir))
            try:
                server.start()
            except ServerError as e:
                message = "%s server failed to start: %s" % (backend, e)
                serverProblems.append(message)
                banner("!!! %s\n!!! the %s backend is NOT TESTED" % (message, backend))
                results.append(RunResult(backend, note="server failed to start"))
                continue
            timings[backend] = "started in %.1fs" % (server.startSeconds or 0)
            print("%s server up at %s (%s)" % (backend, server.url, timings[backend]),
                  flush=True)
            stateFile = serverDir / ("%s.state.json" % backend)
            server.writeState(stateFile)
            try:
                results.append(runTrial(backend, server.url, str(stateFile), trialArgs,
                                          args.timeout))
            finally:
                # A test may have left the server stopped; stop() copes with that.
                server.stop()
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted", flush=True)
    finally:
        for started in servers:
            try:
                started.stop()
            except Exception as e:  # keep stopping the others
                print("error stopping %r: %s" % (started, e), flush=True)
        if args.keep_servers:
            print("server files kept in %s" % serverDir, flush=True)
        else:
            shutil.rmtree(serverDir, ignore_errors=True)

    # -- report --------------------------------------------------------------
    banner("summary")
    header = "%-10s %-9s %7s %7s %7s %7s %8s  %s" % (
        "backend", "status", "passed", "failed", "errors", "skipped", "seconds", "note")
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
        if r.backend in timings:
            extra.append("server " + timings[r.backend])
        print("%-10s %-9s %7d %7d %7d %7d %8.1f  %s" % (
            r.backend, r.status, r.passed, r.failed, r.errors, r.skipped, r.seconds,
            "; ".join(extra)))
    for note in lintNotes:
        print("!!! %s" % note)
    for problem in serverProblems:
        print("!!! %s" % problem.splitlines()[0])
    if interrupted:
        print("!!! interrupted: not every run finished")
    sys.stdout.write("\n")

    totalPassed = sum(r.passed for r in results)
    totalFailed = sum(r.failed + r.errors for r in results)
    totalSkipped = sum(r.skipped for r in results)
    final = "%d passed, %d failed" % (totalPassed, totalFailed)
    if totalSkipped:
        final += ", %d skipped" % totalSkipped
    print(final, flush=True)

    ran = [r for r in results if r.status != "not run"]
    failed = (
        interrupted
        or not lintOk
        or not ran
        or any(r.status != "passed" for r in ran)
        or (inCI and bool(serverProblems))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

