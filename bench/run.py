#!/usr/bin/env python3
"""
twistar's benchmark: this checkout's twistar, raw adbapi and the published
twistar 2.0, on SQLite, PostgreSQL and MariaDB; on PostgreSQL also the sync
floor (raw's statements on one plain synchronous psycopg 3 connection), the
libpq floor (the same statements, prepared, on that connection's bare libpq
layer, C{psycopg.pq}) and this checkout's twistar on a C{PostgresPool}
(C{threads=False}).

    .venv/bin/python bench/run.py [--quick] [--repeat N] [--backend NAME ...]
                                  [--impl NAME ...] [--workload NAME ...]
                                  [--profile] [--max-seconds S] [--latency MS]

(C{make bench} runs it with no options.)  For each backend it starts a
throwaway server (C{scripts/servers.py}; SQLite uses a file in a temporary
directory), then runs C{--repeat} repetitions; in each, every implementation
runs all the workloads in its own process (C{bench/child.py}; a workload
marked C{ownProcess} in a process of its own), the order of the
implementations rotating from one repetition to the next.  Each workload
gets freshly created tables, is timed inside the child around the
Deferred-producing work with the reactor running (which meanwhile measures
the reactor's longest stall and the process's peak memory), and is verified
afterwards (row counts; a wrong count stops the run).  The tables printed at
the end hold the medians and their ratios to raw adbapi, the longest reactor
stalls, the peak memory of the workloads that read many rows, and the
targets; a full run (no C{--quick}, every backend, implementation and
workload) also writes them, with a description of the machine, to
C{bench/RESULTS.md}.
Every run writes its samples to C{bench/results-TIMESTAMP.json}.

twistar 2.0 runs in its own virtualenv, C{bench/.venv-twistar2}, made on
first use; its bundled inflector needs a one-line fix to import on Python
3.11 (a regex flag C{(?i)} not at the start of its pattern), which is applied
to that virtualenv only.

With C{--latency MS}, the children reach the server (a replica directly)
through C{bench/lagproxy.py}, which delays each way by half of C{MS}: a
stand-in for a network. Its timers have the event loop's millisecond
resolution, so a round trip takes longer than C{MS} (the run measures and
says how long); the proxy's own work takes a share of the machine.

With C{--profile}, each selected workload runs once per selected
implementation (default: twistar) under cProfile, pool threads included, and
the hottest functions are printed instead of the table.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(BENCH))

from servers import (  # noqa: E402
    DATABASE_NAME,
    DatabaseServer,
    MariaDBReplica,
    MariaDBServer,
    PostgresServer,
    PostgresStandby,
    findFreePort,
)
from workloads import IN_FLIGHT, WORKLOADS, WORKLOADS_BY_NAME  # noqa: E402

BACKENDS = ("sqlite", "postgres", "mysql")
BACKEND_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}
#: The backends with replicas, where the workloads of replicas run.
REPLICA_BACKENDS = ("postgres", "mysql")
IMPLS = ("raw", "sync", "libpq", "twistar", "twistar-nothreads", "twistar2")
IMPL_TITLES = {"raw": "raw adbapi", "sync": "sync floor", "libpq": "libpq floor",
               "twistar": "twistar", "twistar-nothreads": "twistar, no threads",
               "twistar2": "twistar 2.0"}
#: The backends of the implementations that do not run on all of them: the
#: C{sync} floor (one plain psycopg 3 connection), the C{libpq} floor (its
#: libpq layer) and twistar on a C{PostgresPool} (C{threads=False}) are
#: PostgreSQL's.
IMPL_BACKENDS = {"sync": ("postgres",), "libpq": ("postgres",),
                 "twistar-nothreads": ("postgres",)}
#: The floors: the implementations that run only the workloads giving them a
#: step of their own (the L{workloads.Workload} field of their name).
FLOORS = ("sync", "libpq")

#: Connections per pool, the same for every implementation: one for SQLite
#: (a single writer; more connections only wait on its lock), five for the
#: servers.
POOL_SIZES = {"sqlite": 1, "postgres": 5, "mysql": 5}

VENV2 = BENCH / ".venv-twistar2"
VENV2_STAMP = VENV2 / ".stamp-twistar2"
CHILD = BENCH / "child.py"
RESULTS_MD = BENCH / "RESULTS.md"

#: Seconds a child may take before it is killed.
CHILD_TIMEOUT = 900


class BenchError(Exception):
    """
    The benchmark cannot go on (a child failed, a count was wrong...).
    """


def say(message: str) -> None:
    """
    Print a progress line.
    """
    print(message, flush=True)


# -- the twistar 2.0 virtualenv ---------------------------------------------------


def _installedVersion(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def _fixInflector(venv: Path) -> None:
    """
    Move the global C{(?i)} flag to the start of the bundled inflector's
    patterns (Python 3.11 rejects global flags elsewhere), in C{venv} only.
    """
    paths = glob.glob(str(venv / "lib" / "python*" / "site-packages" / "BermiInflector"
                          / "Rules" / "English.py"))
    if len(paths) != 1:
        raise BenchError(f"cannot find twistar 2.0's inflector rules in {venv}")
    path = Path(paths[0])
    text = path.read_text()
    fixed, count = re.subn(r"\^\(\?i\)", "(?i)^", text)
    path.write_text(fixed)
    # Same size, maybe the same second: the stale bytecode would look valid.
    for compiled in path.parent.glob("__pycache__/English.*.pyc"):
        compiled.unlink()
    say(f"twistar 2.0: moved the '(?i)' flag to the start of {count} pattern(s) in {path} "
        "(needed to import on Python 3.11; this virtualenv only)")


def ensureTwistar2() -> Path:
    """
    Make the twistar 2.0 virtualenv if needed, with the same Twisted and
    drivers as ours (made again when those change).

    @return: its Python.
    """
    python = VENV2 / "bin" / "python"
    pins = [f"{name}=={_installedVersion(name)}"
            for name in ("Twisted", "psycopg2-binary", "mysqlclient")]
    stamp = " ".join(pins)
    if python.exists() and VENV2_STAMP.exists() and VENV2_STAMP.read_text() == stamp:
        say(f"twistar 2.0: using {VENV2} (its inflector was fixed when it was made)")
        return python
    say(f"twistar 2.0: making {VENV2}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV2)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", "twistar==2.0", *pins],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if install.returncode != 0:
        raise BenchError(f"cannot install twistar 2.0:\n{install.stdout}")
    _fixInflector(VENV2)
    check = ("from twistar.dbobject import DBObject\n"
             "class Child(DBObject): pass\n"
             "assert Child.tablename() == 'children', Child.tablename()\n")
    subprocess.run([str(python), "-c", check], check=True, cwd=str(VENV2))
    VENV2_STAMP.write_text(stamp)
    return python


# -- databases -----------------------------------------------------------------


def _connection(server: DatabaseServer) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, "user": server.user,
            "database": DATABASE_NAME}


@contextmanager
def database(
    backend: str, replicated: bool = False, latency: float = 0.0
) -> Iterator[dict[str, Any]]:
    """
    Start the backend's throwaway server (stopped and removed on exit).

    @param replicated: also start a replica of it (PostgreSQL: a streaming
        hot standby; MariaDB: a GTID replica, of a primary writing a binary
        log), for the workloads of replicas.
    @param latency: milliseconds by which C{bench/lagproxy.py} delays a
        round trip to the server (the primary), half each way.
    @return: the connection parameters for C{bench/child.py}; for SQLite, a
        C{dir} in which each child gets its own file; with C{replicated},
        the replica's in C{replica}.
    """
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="twistar-bench-") as directory:
            yield {"dir": directory}
        return
    if replicated:
        with replicatedDatabase(backend) as db, delayed(backend, db, latency):
            yield db
        return
    serverClass = PostgresServer if backend == "postgres" else MariaDBServer
    say(f"starting a throwaway {BACKEND_TITLES[backend]} server")
    with serverClass() as server:
        say(f"  {server.url} (started in {server.startSeconds:.1f}s)")
        db = _connection(server)
        with delayed(backend, db, latency):
            yield db
    say(f"stopped the {BACKEND_TITLES[backend]} server")


@contextmanager
def delayed(backend: str, db: dict[str, Any], latency: float) -> Iterator[None]:
    """
    With a C{latency} (milliseconds), put C{bench/lagproxy.py} between the
    children and the server of C{db} (whose port then becomes the proxy's)
    while the context runs; say how long a round trip takes through it.
    """
    if not latency:
        yield
        return
    port = findFreePort()
    proxy = subprocess.Popen(
        [sys.executable, str(BENCH / "lagproxy.py"), str(port), str(db["port"]),
         str(latency / 2000)], stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None
        if proxy.stdout.readline().strip() != "ready":
            raise BenchError("the delaying proxy did not start")
        direct = roundTrip(backend, db)
        db["port"] = port
        say(f"  through a proxy delaying each way by {latency / 2:g} ms: a round trip "
            f"takes {roundTrip(backend, db) * 1000:.2f} ms ({direct * 1000:.2f} ms without it)")
        yield
    finally:
        proxy.kill()
        proxy.wait()


def roundTrip(backend: str, db: dict[str, Any]) -> float:
    """
    @return: the median seconds of a C{SELECT 1} on a plain synchronous
        connection to C{db}.
    """
    if backend == "postgres":
        import psycopg

        connection: Any = psycopg.connect(
            host=db["host"], port=db["port"], user=db["user"], dbname=db["database"],
            autocommit=True)
    else:
        import MySQLdb

        connection = MySQLdb.connect(
            host=db["host"], port=db["port"], user=db["user"], database=db["database"])
    try:
        cursor = connection.cursor()
        times = []
        for _ in range(21):
            began = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            times.append(time.perf_counter() - began)
        return statistics.median(times)
    finally:
        connection.close()


@contextmanager
def replicatedDatabase(backend: str) -> Iterator[dict[str, Any]]:
    """
    L{database} with a replica. The primary's pools commit with
    C{synchronous_commit} on (PostgreSQL's default; the throwaway server's
    is off, and then a commit reaches the standby only when the WAL writer
    next writes, every 200 ms); C{fsync} stays off.
    """
    title = BACKEND_TITLES[backend]
    say(f"starting a throwaway {title} server and a replica of it")
    primaryServer = PostgresServer() if backend == "postgres" else MariaDBServer(logBin=True)
    replicaClass = PostgresStandby if backend == "postgres" else MariaDBReplica
    with primaryServer as primary, replicaClass.forPrimary(primary) as replica:
        say(f"  {primary.url} (started in {primary.startSeconds:.1f}s), replica "
            f"{replica.url} (started in {replica.startSeconds:.1f}s)")
        db = _connection(primary)
        if backend == "postgres":
            db["options"] = "-c synchronous_commit=on"
        db["replica"] = _connection(replica)
        yield db
    say(f"stopped the {title} server and its replica")


# -- running children ---------------------------------------------------------------


def runChild(python: Path, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """
    Run C{bench/child.py} with C{spec}.

    @return: its protocol records.
    @raise BenchError: if it failed.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    try:
        done = subprocess.run([str(python), str(CHILD), json.dumps(spec)], env=env,
                              stdout=subprocess.PIPE, text=True, timeout=CHILD_TIMEOUT,
                              cwd=str(BENCH))
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{spec['impl']} on {spec['backend']} took over {CHILD_TIMEOUT}s") from e
    records = []
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            records.append(json.loads(line[len("BENCH "):]))
        else:
            print(line, file=sys.stderr)
    for record in records:
        if record["type"] == "error":
            raise BenchError(f"{spec['impl']} on {spec['backend']}, workload "
                             f"{record['workload']}: {record['message']}\n{record['traceback']}")
    if done.returncode != 0:
        raise BenchError(f"{spec['impl']} on {spec['backend']} exited with {done.returncode}")
    return records


def plainWorkloads(plan: Plan) -> list[str]:
    """
    @return: the planned workloads that run on a database without replica.
    """
    return [name for name in plan.workloads if not WORKLOADS_BY_NAME[name].replica]


def replicaWorkloads(plan: Plan) -> list[str]:
    """
    @return: the planned workloads of replicas.
    """
    return [name for name in plan.workloads if WORKLOADS_BY_NAME[name].replica]


def plannedRuns(plan: Plan) -> Iterator[tuple[str, bool, list[str]]]:
    """
    @return: C{(backend, replicated, workloads)} for each database to start:
        per backend, one without replica for the plain workloads, then (on
        PostgreSQL and MariaDB) one with a replica for the workloads of
        replicas.
    """
    for backend in plan.backends:
        plain = plainWorkloads(plan)
        if plain:
            yield backend, False, plain
        replicated = replicaWorkloads(plan)
        if replicated and backend in REPLICA_BACKENDS:
            yield backend, True, replicated


@dataclass
class Plan:
    """
    What to run.
    """

    backends: list[str]
    impls: list[str]
    workloads: list[str]
    repeat: int
    quick: bool
    maxSeconds: float
    full: bool
    latency: float = 0.0


class Runner:
    """
    Runs the plan and collects the samples.

    @ivar samples: C{(backend, workload, impl)} to a list of seconds, or to
        C{None} when the implementation does not support the workload.
    @ivar stalls: C{(backend, workload, impl)} to the reactor's longest
        stall in each run, in milliseconds (in the order of C{samples}).
    @ivar memory: C{(backend, workload, impl)} to the process's resident
        memory before each run and its peak during it, in MiB (C{None}s
        where it cannot be measured; in the order of C{samples}).
    @ivar references: C{(backend, workload, impl)} to the seconds of the
        reference's calls in each run, for a workload that interleaves its
        calls with a reference's (in the order of C{samples}).
    @ivar replicaReads: C{(backend, workload, impl)} to how many of the
        timed calls of each run ran on a replica, for the workloads that
        report it (in the order of C{samples}).
    @ivar meta: C{(backend, impl)} to the child's meta record.
    @ivar dropped: the C{(backend, workload, impl)} not repeated any more
        because one run took longer than C{maxSeconds}.
    """

    def __init__(self, plan: Plan, pythons: dict[str, Path]) -> None:
        self.plan = plan
        self.pythons = pythons
        self.samples: dict[tuple[str, str, str], Optional[list[float]]] = {}
        self.stalls: dict[tuple[str, str, str], list[float]] = {}
        self.memory: dict[tuple[str, str, str],
                          list[tuple[Optional[float], Optional[float]]]] = {}
        self.references: dict[tuple[str, str, str], list[float]] = {}
        self.replicaReads: dict[tuple[str, str, str], list[int]] = {}
        self.meta: dict[tuple[str, str], dict[str, Any]] = {}
        self.dropped: set[tuple[str, str, str]] = set()

    def spec(self, backend: str, db: dict[str, Any], impl: str, workloads: list[str],
             tag: str) -> dict[str, Any]:
        """
        @return: the child spec (an SQLite file of its own when C{db} has a C{dir}).
        """
        if "dir" in db:
            db = {"path": os.path.join(db["dir"], f"{impl}-{tag}.db")}
        return {"impl": impl, "backend": backend, "db": db, "poolSize": POOL_SIZES[backend],
                "workloads": workloads, "quick": self.plan.quick, "repoRoot": str(ROOT)}

    def repetitions(self, workload: str) -> int:
        """
        @return: how many repetitions C{workload} runs (its C{maxRepeat} at most).
        """
        return min(self.plan.repeat, WORKLOADS_BY_NAME[workload].maxRepeat or self.plan.repeat)

    def children(self, backend: str, impl: str, rep: int,
                 workloads: list[str]) -> list[tuple[list[str], str]]:
        """
        @return: the workloads among C{workloads} of each child that C{impl}
            runs in repetition C{rep}, with a tag for it: one child for the
            workloads that share one, then one per workload that runs in
            its own process (for a floor, only the workloads with a step of
            its own: the others are not run, and read n/a).
        """
        names = [w for w in workloads
                 if (backend, w, impl) not in self.dropped and rep < self.repetitions(w)
                 and (impl not in FLOORS or getattr(WORKLOADS_BY_NAME[w], impl) is not None)]
        shared = [w for w in names if not WORKLOADS_BY_NAME[w].ownProcess]
        groups = [(shared, str(rep))] if shared else []
        groups.extend(([w], f"{rep}-{w}") for w in names if WORKLOADS_BY_NAME[w].ownProcess)
        return groups

    def runBackend(self, backend: str, db: dict[str, Any], workloads: list[str]) -> None:
        """
        Run every repetition of C{workloads} on one backend.
        """
        plan = self.plan
        for rep in range(plan.repeat):
            order = plan.impls[rep % len(plan.impls):] + plan.impls[:rep % len(plan.impls)]
            for impl in order:
                if backend not in IMPL_BACKENDS.get(impl, BACKENDS):
                    continue
                for names, tag in self.children(backend, impl, rep, workloads):
                    began = time.monotonic()
                    spec = self.spec(backend, db, impl, names, tag)
                    try:
                        records = runChild(self.pythons[impl], spec)
                    finally:
                        _removeSQLite(spec["db"])
                    self.record(backend, impl, records)
                    say(f"  [{BACKEND_TITLES[backend]} {rep + 1}/{plan.repeat}] "
                        f"{IMPL_TITLES[impl]:<11} {time.monotonic() - began:5.1f}s: "
                        + ", ".join(_brief(r) for r in records if r["type"] == "result"))

    def record(self, backend: str, impl: str, records: list[dict[str, Any]]) -> None:
        """
        Keep a child's results.
        """
        for record in records:
            if record["type"] == "meta":
                self.meta[(backend, impl)] = record
            elif record["type"] == "result":
                key = (backend, record["workload"], impl)
                if record["status"] != "ok":
                    self.samples[key] = None
                    continue
                samples = self.samples.setdefault(key, [])
                assert samples is not None
                samples.append(record["seconds"])
                self.stalls.setdefault(key, []).append(record["maxStallMs"])
                self.memory.setdefault(key, []).append(
                    (record["rssBeforeMb"], record["rssPeakMb"]))
                if record["referenceSeconds"] is not None:
                    self.references.setdefault(key, []).append(record["referenceSeconds"])
                if record.get("replicaReads") is not None:
                    self.replicaReads.setdefault(key, []).append(record["replicaReads"])
                if record["seconds"] > self.plan.maxSeconds:
                    self.dropped.add(key)

    def median(self, backend: str, workload: str, impl: str) -> Optional[float]:
        """
        @return: the median seconds, or C{None} (not run, or n/a).
        """
        samples = self.samples.get((backend, workload, impl))
        return statistics.median(samples) if samples else None

    def stall(self, backend: str, workload: str, impl: str
              ) -> tuple[Optional[float], Optional[float]]:
        """
        @return: the median and the largest of the runs' longest reactor
            stalls, in milliseconds, or C{(None, None)} (not run, or n/a).
        """
        stalls = self.stalls.get((backend, workload, impl))
        if not stalls:
            return None, None
        return statistics.median(stalls), max(stalls)

    def interleavedRatio(self, backend: str, workload: str, impl: str) -> Optional[float]:
        """
        @return: the median over the runs of the time of C{workload}'s own
            calls over the time of the reference's calls it interleaved them
            with, or C{None} (not run, or not interleaved).
        """
        samples = self.samples.get((backend, workload, impl))
        references = self.references.get((backend, workload, impl))
        if not samples or not references:
            return None
        return statistics.median(s / r for s, r in zip(samples, references))

    def growths(self, backend: str, workload: str, impl: str) -> Optional[list[float]]:
        """
        @return: how much each run's peak RSS exceeded its RSS before, in
            MiB, or C{None} (not run, n/a, or not measurable here).
        """
        runs = self.memory.get((backend, workload, impl))
        if not runs:
            return None
        growths = []
        for before, peak in runs:
            if before is None or peak is None:
                return None
            growths.append(peak - before)
        return growths


def _removeSQLite(db: dict[str, Any]) -> None:
    """
    Remove a child's SQLite file (with its WAL files), if C{db} names one:
    the C{each()} workload's are 50 MB each.
    """
    if "path" in db:
        for suffix in ("", "-wal", "-shm"):
            Path(db["path"] + suffix).unlink(missing_ok=True)


def _brief(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return f"{record['workload']} n/a"
    memory = ""
    if WORKLOADS_BY_NAME[record["workload"]].memory and record["rssPeakMb"] is not None:
        memory = f", RSS +{record['rssPeakMb'] - record['rssBeforeMb']:.1f} MiB"
    return (f"{record['workload']} {_seconds(record['seconds'])} "
            f"(stall {record['maxStallMs']:.1f} ms{memory})")


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def _ratio(value: Optional[float], base: Optional[float]) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


# -- reporting ------------------------------------------------------------------------


def resultsTable(runner: Runner, workloads: Optional[list[str]] = None,
                 backends: Optional[Sequence[str]] = None,
                 impls: Optional[Sequence[str]] = None) -> str:
    """
    @param workloads: the workloads in it (default: the plain ones).
    @param backends: its backends (default: the planned ones).
    @param impls: its implementations (default: the planned ones).
    @return: the markdown table of medians and ratios to raw.
    """
    plan = runner.plan
    workloads = plainWorkloads(plan) if workloads is None else workloads
    backends = plan.backends if backends is None else backends
    impls = plan.impls if impls is None else impls
    head = ["backend", "workload", "n"]
    for impl in impls:
        head.append(IMPL_TITLES[impl])
        if impl != "raw":
            head.append("/ raw")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    dropped = capped = False
    for backend in backends:
        for name in workloads:
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if plan.quick else workload.size
            raw = runner.median(backend, name, "raw")
            cells = [BACKEND_TITLES[backend], workload.title, f"{size:,}"]
            for impl in impls:
                value = runner.median(backend, name, impl)
                samples = runner.samples.get((backend, name, impl)) or []
                mark = ""
                if value is not None and len(samples) < plan.repeat:
                    mark = f" ({len(samples)} run{'s' * (len(samples) > 1)})"
                    if len(samples) < runner.repetitions(name):
                        dropped = True
                    else:
                        capped = True
                cells.append(_seconds(value) + mark)
                if impl != "raw":
                    cells.append(_ratio(value, raw))
            lines.append("| " + " | ".join(cells) + " |")
    if dropped or capped:
        lines.append("")
    if capped:
        lines.append("(N runs): fewer samples, because the workload runs at most N "
                     "repetitions (`maxRepeat` in `bench/workloads.py`).")
    if dropped:
        lines.append(f"(N runs): fewer samples, because one run took over {plan.maxSeconds:g} s "
                     "and it was not repeated.")
    comparison = queryComparison(runner) if "query_where" in workloads else ""
    if comparison:
        lines.extend(["", comparison])
    perCall = perCallTable(runner) if "postgres" in backends and not any(
        WORKLOADS_BY_NAME[name].replica for name in workloads) else ""
    if perCall:
        lines.extend(["", "Per call, without threads:", "", perCall])
    return "\n".join(lines)


#: The implementations in L{perCallTable}, and the one its ratios are of.
PER_CALL_IMPLS = ("raw", "sync", "libpq", "twistar", "twistar-nothreads")
PER_CALL_MEASURED = "twistar-nothreads"


def perCallTable(runner: Runner) -> str:
    """
    @return: the markdown table of the time per call, on PostgreSQL, of the
        workloads that the floors run (and the throughput of the concurrent
        creates), with twistar's without threads over each floor's and raw
        adbapi's (issue 17's targets), and below it the libpq floor's own
        ratio to raw; or C{""} when no floor or not twistar without threads
        ran there.
    """
    plan = runner.plan
    impls = [impl for impl in PER_CALL_IMPLS if impl in plan.impls]
    floors = [impl for impl in FLOORS if impl in impls]
    if "postgres" not in plan.backends or not floors or PER_CALL_MEASURED not in impls:
        return ""
    references = [*floors, "raw"]
    head = ["workload", "n"] + [IMPL_TITLES[impl] for impl in impls]
    head += [f"{IMPL_TITLES[PER_CALL_MEASURED]} / {IMPL_TITLES[impl]}" for impl in references]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    names = [w.name for w in WORKLOADS if any(getattr(w, floor) is not None for floor in FLOORS)]
    libpqRatios = []
    for name in [*names, "create_concurrent"]:
        if name not in plan.workloads:
            continue
        workload = WORKLOADS_BY_NAME[name]
        size = workload.quickSize if plan.quick else workload.size
        cells = [workload.title, f"{size:,}"]
        for impl in impls:
            value = runner.median("postgres", name, impl)
            cells.append("n/a" if value is None else f"{value / size * 1e6:,.0f} us")
        measured = runner.median("postgres", name, PER_CALL_MEASURED)
        cells.extend(_ratio(measured, runner.median("postgres", name, impl))
                     for impl in references)
        lines.append("| " + " | ".join(cells) + " |")
        if "libpq" in floors and workload.libpq is not None:
            ratio = _ratio(runner.median("postgres", name, "libpq"),
                           runner.median("postgres", name, "raw"))
            libpqRatios.append(f"{ratio} raw on {workload.title}")
    lines.append("")
    lines.append("PostgreSQL, microseconds per call (a load-modify-save is one call; the "
                 "concurrent creates' time over their count, the inverse of their "
                 "throughput), medians of the runs; issue 17 wants at most 2x the sync floor and "
                 "at most 0.4x raw adbapi (2.5x faster) per call, and at most 0.5x raw for the "
                 "concurrent creates (2x the throughput).")
    if libpqRatios:
        lines.append("")
        lines.append("Issue 17's 0.4x raw per call next to the libpq floor's own ratio to raw "
                     "(one prepared round trip with almost no Python on top: the least any "
                     "client takes per call on this machine): the libpq floor is "
                     + ", ".join(libpqRatios) + ".")
    return "\n".join(lines)


def _interleavedRatio(runner: Runner, backend: str, impl: str) -> str:
    ratio = runner.interleavedRatio(backend, "query_where", impl)
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def queryComparison(runner: Runner) -> str:
    """
    @return: a line giving, per backend, the time of twistar's Query calls
        over the time of the C{find(where=...)} calls (the same SQL) that
        the Query workload interleaved them with, the median of the runs'
        ratios, beside raw adbapi's (the same SQL both times: the noise);
        or C{""} when the Query workload was not run.
    """
    plan = runner.plan
    if "twistar" not in plan.impls or "query_where" not in plan.workloads:
        return ""
    ratios = [f"{BACKEND_TITLES[backend]} {_interleavedRatio(runner, backend, 'twistar')} "
              f"(raw: {_interleavedRatio(runner, backend, 'raw')})"
              for backend in plan.backends]
    return ("Query / find(where=...), twistar, the same SQL, the Query built and compiled for "
            "every call, the calls interleaved one by one in the Query workload, median of the "
            "runs' ratios (raw adbapi running the same SQL both ways, as a measure of the "
            "noise): " + ", ".join(ratios) + ".")


def _memory(runner: Runner, backend: str, workload: str, impl: str) -> str:
    """
    @return: the median growth of the runs' peak RSS over their RSS before,
        the largest growth in parentheses, and the median RSS before, in MiB.
    """
    growths = runner.growths(backend, workload, impl)
    if growths is None:
        return "n/a"
    before = statistics.median(before for before, _ in runner.memory[(backend, workload, impl)]
                               if before is not None)
    return f"+{statistics.median(growths):.1f} (+{max(growths):.1f}), from {before:.0f}"


def memoryTable(runner: Runner) -> str:
    """
    @return: the markdown table of the peak memory of the workloads that
        report it (C{memory} in L{workloads}), or C{""} when none ran.
    """
    plan = runner.plan
    names = [name for name in plan.workloads if WORKLOADS_BY_NAME[name].memory]
    if not names:
        return ""
    head = ["backend", "workload", "n"] + [IMPL_TITLES[impl] for impl in plan.impls]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * len(plan.impls)) + "|"]
    for backend in plan.backends:
        for name in names:
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if plan.quick else workload.size
            cells = [BACKEND_TITLES[backend], workload.title, f"{size:,}"]
            cells.extend(_memory(runner, backend, name, impl) for impl in plan.impls)
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("In MiB: how much the process's peak resident memory (RSS) during the timed "
                 "work exceeded its RSS just before, the median over the runs (the largest in "
                 "parentheses), and the median RSS before; n/a: not supported.")
    return "\n".join(lines)


#: The rows of the summary of the workloads of replicas: C{(title, workload,
#: the workload it is compared with, or None)}. Throughput rows first.
REPLICA_THROUGHPUT = [
    (f"read throughput, find(id), {IN_FLIGHT} in flight: primary alone",
     "replica_in_flight_primary", None),
    (f"read throughput, find(id), {IN_FLIGHT} in flight: on the replica",
     "replica_in_flight", "replica_in_flight_primary"),
]
REPLICA_PER_CALL = [
    ("find(id): primary alone", "replica_find_primary", None),
    ("find(id): replica, its position known", "replica_find_cached", "replica_find_primary"),
    ("find(id): replica, its position checked", "replica_find_checked",
     "replica_find_primary"),
    ("find(id) right after a write", "replica_find_after_write", "replica_find_primary"),
    ("create: primary alone", "replica_create_primary", None),
    ("create: with a replica", "replica_create", "replica_create_primary"),
]


#: The workloads of replicas whose share of reads run on the replica
#: L{replicaSummary} gives (the median over the runs).
REPLICA_SHARES = ("replica_find_after_write",)


def _replicaCell(runner: Runner, backend: str, impl: str, name: str,
                 reference: Optional[str], throughput: bool) -> str:
    """
    @return: a cell of L{replicaSummary}: reads per second or the time per
        call, and the ratio to C{reference}'s.
    """
    workload = WORKLOADS_BY_NAME[name]
    size = workload.quickSize if runner.plan.quick else workload.size
    value = runner.median(backend, name, impl)
    if value is None:
        return "n/a"
    cell = f"{size / value:,.0f} reads/s" if throughput else f"{value / size * 1000:.3f} ms"
    base = runner.median(backend, reference, impl) if reference else None
    if base:
        ratio = base / value if throughput else value / base
        cell += f" ({ratio:.2f}x)"
    return cell


def replicaSummary(runner: Runner) -> str:
    """
    @return: the markdown table of what a replica changes, from the
        workloads of replicas: read throughput with and without it, and
        the time per call of finds and creates with it, each over the
        same without it; or C{""} when they did not run.
    """
    plan = runner.plan
    backends = [b for b in plan.backends if b in REPLICA_BACKENDS]
    impls = [impl for impl in ("twistar", "raw") if impl in plan.impls]
    planned = set(replicaWorkloads(plan))
    if not backends or not planned:
        return ""
    lines = ["| backend | measure | " + " | ".join(IMPL_TITLES[i] for i in impls) + " |",
             "|---|---|" + "---:|" * len(impls)]
    for backend in backends:
        for rows, throughput in ((REPLICA_THROUGHPUT, True), (REPLICA_PER_CALL, False)):
            for title, name, reference in rows:
                if name not in planned:
                    continue
                cells = [_replicaCell(runner, backend, impl, name,
                                      reference if reference in planned else None, throughput)
                         for impl in impls]
                lines.append(f"| {BACKEND_TITLES[backend]} | {title} | " + " | ".join(cells)
                             + " |")
        for name in REPLICA_SHARES:
            if name not in planned:
                continue
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if plan.quick else workload.size
            cells = []
            for impl in impls:
                counts = runner.replicaReads.get((backend, name, impl))
                cells.append(f"{statistics.median(counts) / size:.0%}" if counts else "-")
            lines.append(f"| {BACKEND_TITLES[backend]} | {workload.title}: share of the reads "
                         "run on the replica | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replicaTables(runner: Runner) -> str:
    """
    @return: the results table of the workloads of replicas and their
        summary (L{replicaSummary}), or C{""} when they did not run.
    """
    plan = runner.plan
    backends = [b for b in plan.backends if b in REPLICA_BACKENDS]
    workloads = replicaWorkloads(plan)
    if not backends or not workloads:
        return ""
    impls = [impl for impl in plan.impls if impl != "twistar2"]
    table = resultsTable(runner, workloads, backends, impls)
    return f"""{replicaSummary(runner)}

Reads per second, or the time per call (the median run's time over its
calls), with its ratio to the same without a replica in parentheses. raw
adbapi reads the replica directly (after a write: the primary), with no
check: the floor of the routing.

{table}"""


def _stall(median: Optional[float], worst: Optional[float]) -> str:
    if median is None or worst is None:
        return "n/a"
    return f"{median:.1f} ms ({worst:.1f})"


def stallsTable(runner: Runner) -> str:
    """
    @return: the markdown table of the reactor's longest stalls during the
        timed work: the median over the runs of each run's longest stall,
        and the longest of all in parentheses.
    """
    plan = runner.plan
    head = ["backend", "workload", "n"] + [IMPL_TITLES[impl] for impl in plan.impls]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * len(plan.impls)) + "|"]
    for backend in plan.backends:
        for name in plainWorkloads(plan):
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if plan.quick else workload.size
            cells = [BACKEND_TITLES[backend], workload.title, f"{size:,}"]
            cells.extend("blocks" if impl in FLOORS and runner.median(backend, name, impl)
                         else _stall(*runner.stall(backend, name, impl))
                         for impl in plan.impls)
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Median of the runs' longest stalls (the longest of all runs); n/a: not "
                 "supported; blocks: the sync and libpq floors block the process for all of "
                 "their work.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """
    One target of an issue: C{impl}'s median over a reference median.

    @ivar workload: the twistar workload.
    @ivar reference: the C{(workload, impl)} compared with.
    @ivar limit: the bound on C{twistar / reference} (at most), or, with
        C{inverse}, on C{reference / twistar} (at least).
    @ivar interleaved: compare the workload's calls with the reference
        calls it interleaved them with (L{Runner.interleavedRatio}), run by
        run, rather than the medians of two workloads; C{reference} then
        names the workload itself, and the title says what its reference is.
    @ivar impl: the implementation measured.
    """

    title: str
    workload: str
    reference: tuple[str, str]
    limit: float
    backends: tuple[str, ...] = BACKENDS
    inverse: bool = False
    interleaved: bool = False
    impl: str = "twistar"


def _noThreadsTargets() -> list[Target]:
    """
    @return: issue 17's targets for twistar on a C{PostgresPool}
        (C{threads=False}), on PostgreSQL: per call, at most 2x the sync
        floor and at least 2.5x faster than raw adbapi; 2,000 concurrent
        creates at least 2x raw's throughput; all() at most 1.5x raw;
        insertMany at most 1.0x raw.
    """
    targets = []
    for name, title in (("find", "find(id)"), ("count", "count()"),
                        ("update", "load-modify-save"), ("create", "sequential creates")):
        targets.append(Target(f"no threads: {title} <= 2x the sync floor", name,
                              (name, "sync"), 2.0, ("postgres",), impl="twistar-nothreads"))
        targets.append(Target(f"no threads: {title} >= 2.5x faster than raw", name,
                              (name, "raw"), 2.5, ("postgres",), inverse=True,
                              impl="twistar-nothreads"))
    targets.extend([
        Target("no threads: concurrent creates >= 2x raw's throughput", "create_concurrent",
               ("create_concurrent", "raw"), 2.0, ("postgres",), inverse=True,
               impl="twistar-nothreads"),
        Target("no threads: all() over 100,000 rows <= 1.5x raw", "all", ("all", "raw"), 1.5,
               ("postgres",), impl="twistar-nothreads"),
        Target("no threads: insertMany <= 1.0x raw", "insert_many", ("insert_many", "raw"),
               1.0, ("postgres",), impl="twistar-nothreads"),
    ])
    return targets


TARGETS = [
    Target("all() over 100,000 rows <= 3x raw", "all", ("all", "raw"), 3.0),
    Target("insertMany <= 1.3x raw", "insert_many", ("insert_many", "raw"), 1.3),
    Target("concurrent creates <= 1.2x raw (PostgreSQL)", "create_concurrent",
           ("create_concurrent", "raw"), 1.2, ("postgres",)),
    Target("find(id) <= 1.2x raw", "find", ("find", "raw"), 1.2),
    Target("load-modify-save <= 1.2x raw", "update", ("update", "raw"), 1.2),
    Target("count() <= 1.2x raw", "count", ("count", "raw"), 1.2),
    Target("Query built and run <= 1.1x find(where=...), the same SQL", "query_where",
           ("query_where", "twistar"), 1.1, interleaved=True),
    Target("eager has-many <= 3x raw's two queries", "children_eager",
           ("children_eager", "raw"), 3.0),
    Target("eager has-many >= 4x faster than raw per parent", "children_eager",
           ("children_each", "raw"), 4.0, inverse=True),
    *_noThreadsTargets(),
]

#: The bound on twistar's longest reactor stall (the median of the runs'
#: longest), in milliseconds, and the workloads it applies to: those that
#: handle many rows in one call.
STALL_LIMIT_MS = 50.0
STALL_WORKLOADS = ("create_many", "create_many_concurrent", "all", "each", "insert_many",
                   "children_eager")
#: The implementations whose stalls are judged (each on its backends).
STALL_IMPLS = ("twistar", "twistar-nothreads")

#: The bound on twistar's peak memory growth (the median over the runs), in
#: MiB, and the workloads it applies to: those that stream their rows (all()
#: of 100,000 rows needs about 55 MiB more).
MEMORY_LIMIT_MB = 10.0
MEMORY_WORKLOADS = ("each",)


def targetsTable(runner: Runner) -> str:
    """
    @return: a markdown table saying which targets of the issue are met.
    """
    lines = ["| backend | target | measured | met |", "|---|---|---:|---|"]
    for backend in runner.plan.backends:
        for target in TARGETS:
            planned = runner.plan.workloads
            if backend not in target.backends or target.impl not in runner.plan.impls or not (
                    target.workload in planned and target.reference[0] in planned):
                continue
            reference: Optional[float]
            if target.interleaved:
                value = runner.interleavedRatio(backend, target.workload, target.impl)
                reference = 1.0
            else:
                value = runner.median(backend, target.workload, target.impl)
                reference = runner.median(backend, *target.reference)
            if value is None or reference is None:
                measured, met = "n/a", "not measured"
            elif target.inverse:
                ratio = reference / value
                measured = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
                met = "yes" if ratio >= target.limit else "NO"
            else:
                ratio = value / reference
                measured, met = f"{ratio:.2f}x", "yes" if ratio <= target.limit else "NO"
            lines.append(f"| {BACKEND_TITLES[backend]} | {target.title} | {measured} | {met} |")
        for impl, name in [(impl, name) for impl in STALL_IMPLS for name in STALL_WORKLOADS]:
            if name not in runner.plan.workloads or impl not in runner.plan.impls or (
                    backend not in IMPL_BACKENDS.get(impl, BACKENDS)):
                continue
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if runner.plan.quick else workload.size
            median, worst = runner.stall(backend, name, impl)
            if median is None or worst is None:
                measured, met = "n/a", "not measured"
            else:
                measured = f"{median:.1f} ms (worst {worst:.1f} ms)"
                met = "yes" if median < STALL_LIMIT_MS else "NO"
            title = f"max reactor stall < {STALL_LIMIT_MS:g} ms: {workload.title}, {size:,}"
            if impl != "twistar":
                title = f"{IMPL_TITLES[impl]}: {title}"
            lines.append(f"| {BACKEND_TITLES[backend]} | {title} | {measured} | {met} |")
        for name in MEMORY_WORKLOADS:
            if name not in runner.plan.workloads:
                continue
            workload = WORKLOADS_BY_NAME[name]
            size = workload.quickSize if runner.plan.quick else workload.size
            growths = runner.growths(backend, name, "twistar")
            if growths is None:
                measured, met = "n/a", "not measured"
            else:
                growth = statistics.median(growths)
                measured = f"+{growth:.1f} MiB (worst +{max(growths):.1f} MiB)"
                met = "yes" if growth < MEMORY_LIMIT_MB else "NO"
            title = (f"peak memory growth < {MEMORY_LIMIT_MB:g} MiB: {workload.title}, "
                     f"{size:,}")
            lines.append(f"| {BACKEND_TITLES[backend]} | {title} | {measured} | {met} |")
    return "\n".join(lines)


def machineDescription(runner: Runner) -> str:
    """
    @return: a markdown list describing the machine and the software.
    """
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory}",
        f"- OS: {platform.platform()}",
    ]
    anyMeta = next(iter(runner.meta.values()), {})
    lines.append(f"- Python {anyMeta.get('python', platform.python_version())}, "
                 f"Twisted {anyMeta.get('twisted', '?')} (the same in both virtualenvs)")
    for backend in runner.plan.backends:
        meta = runner.meta.get((backend, "raw")) or next(
            (m for (b, _), m in runner.meta.items() if b == backend), {})
        lines.append(f"- {BACKEND_TITLES[backend]}: server {meta.get('server', '?')}, "
                     f"driver {meta.get('driver', '?')}, pool cp_min = cp_max = "
                     f"{POOL_SIZES[backend]}")
    for impl in runner.plan.impls:
        if impl != "raw":
            meta = next((m for (_, i), m in runner.meta.items() if i == impl), {})
            what = meta.get("twistar", "?")
            if impl in IMPL_BACKENDS:
                what = f"{what}, driver {meta.get('driver', '?')}" if what != "-" else (
                    f"driver {meta.get('driver', '?')}, no Twisted in the timed work")
            lines.append(f"- {IMPL_TITLES[impl]}: {what}")
    return "\n".join(lines)


def replicaSection(runner: Runner) -> str:
    """
    @return: the section of C{bench/RESULTS.md} on read replicas (from its
        title), or C{""} when their workloads did not run.
    """
    tables = replicaTables(runner)
    if not tables:
        return ""
    return f"""## Read replicas

What a replica changes (`bench/README.md` says what each workload does).
Both servers, the primary and its replica (a streaming hot standby on
PostgreSQL, a GTID replica on MariaDB), run on this same machine, with
{os.cpu_count()} cores, as the benchmark's process: the replica brings no
processor of its own, so the throughput measures what routing reads to it
costs, not the capacity a replica on its own machine would add. The
primary's connections commit with `synchronous_commit` on (PostgreSQL's
default), so that the standby receives each commit at once.

{tables}
"""


def writeResults(runner: Runner, table: str, stalls: str, memory: str, targets: str,
                 seconds: float) -> None:
    """
    Write C{bench/RESULTS.md}.
    """
    plan = runner.plan
    text = f"""# Benchmark results

Written by `make bench` (`bench/run.py`, {plan.repeat} repetitions) on
{time.strftime('%Y-%m-%d %H:%M %Z')}, in {seconds / 60:.1f} minutes. Medians of the
repetitions; "/ raw" is the ratio to raw adbapi (lower is better). See
`bench/README.md` for what each workload does.

## Machine

{machineDescription(runner)}

## Results

{table}

## Longest reactor stalls

The longest time the reactor could do nothing else (run no timer, handle no
I/O, take no result from a pool thread) during the timed work;
`bench/README.md` says how it is measured.

{stalls}

## Peak memory

How much memory the workloads that read many rows needed: the process's peak
resident memory during the timed work, over its resident memory just before;
`bench/README.md` says how it is measured.

{memory}

{replicaSection(runner)}
## Targets (twistar)

{targets}
"""
    RESULTS_MD.write_text(text.replace("\n\n\n## Targets", "\n\n## Targets"))
    say(f"wrote {RESULTS_MD}")


def writeSamples(runner: Runner) -> Path:
    """
    Write every sample and meta record to C{bench/results-TIMESTAMP.json}.

    @return: the file.
    """
    path = BENCH / time.strftime("results-%Y%m%d-%H%M%S.json")
    data = {
        "plan": runner.plan.__dict__,
        "samples": [{"backend": b, "workload": w, "impl": i, "seconds": s,
                     "maxStallMs": runner.stalls.get((b, w, i)),
                     "rssBeforeAndPeakMb": runner.memory.get((b, w, i)),
                     "referenceSeconds": runner.references.get((b, w, i)),
                     "replicaReads": runner.replicaReads.get((b, w, i))}
                    for (b, w, i), s in runner.samples.items()],
        "meta": list(runner.meta.values()),
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


# -- profiling ----------------------------------------------------------------------------


def profile(plan: Plan, pythons: dict[str, Path], top: int = 30) -> None:
    """
    Run each workload once per implementation under cProfile and print the
    functions with the most own time.
    """
    for backend, replicated, workloads in plannedRuns(plan):
        with database(backend, replicated, plan.latency) as db:
            runner = Runner(plan, pythons)
            for impl in plan.impls:
                for name in workloads:
                    with tempfile.NamedTemporaryFile(suffix=".prof") as statsFile:
                        spec = runner.spec(backend, db, impl, [name], f"profile-{name}")
                        spec["profile"] = statsFile.name
                        records = runChild(pythons[impl], spec)
                        say(f"\n=== {BACKEND_TITLES[backend]}, {IMPL_TITLES[impl]}, {name}: "
                            + ", ".join(_brief(r) for r in records if r["type"] == "result"))
                        if os.path.getsize(statsFile.name):
                            stats = pstats.Stats(statsFile.name, stream=sys.stdout)
                            stats.sort_stats("tottime").print_stats(top)


# -- main -------------------------------------------------------------------------------------


def parseArgs(argv: Sequence[str]) -> tuple[Plan, bool]:
    """
    @return: the plan, and whether to profile instead.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: sizes divided by 10, one repetition")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions (default 15, or 1 with --quick)")
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="run only this backend (may be repeated)")
    parser.add_argument("--impl", action="append", choices=IMPLS,
                        help="run only this implementation (may be repeated)")
    parser.add_argument("--workload", action="append", choices=[w.name for w in WORKLOADS],
                        help="run only this workload (may be repeated)")
    parser.add_argument("--max-seconds", type=float, default=15.0,
                        help="do not repeat a workload of an implementation once a run of it "
                             "took longer (default 15)")
    parser.add_argument("--profile", action="store_true",
                        help="profile each workload once (default implementation: twistar)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS",
                        help="reach the server through a proxy delaying each way by MS/2 "
                             "milliseconds (bench/lagproxy.py; the run says how long a round "
                             "trip then takes)")
    args = parser.parse_args(argv)
    impls = args.impl or (["twistar"] if args.profile else list(IMPLS))
    if not args.profile and "raw" not in impls:
        impls.insert(0, "raw")
    full = (not args.quick and not args.backend and not args.impl and not args.workload
            and not args.latency)
    plan = Plan(
        backends=args.backend or list(BACKENDS),
        impls=[impl for impl in IMPLS if impl in impls],
        workloads=args.workload or [w.name for w in WORKLOADS],
        repeat=args.repeat or (1 if args.quick else 15),
        quick=args.quick,
        maxSeconds=args.max_seconds,
        full=full,
        latency=args.latency,
    )
    return plan, args.profile


def main(argv: Sequence[str]) -> int:
    """
    Run the benchmark.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan, profiling = parseArgs(argv)
    began = time.monotonic()
    pythons = {impl: Path(sys.executable) for impl in IMPLS if impl != "twistar2"}
    try:
        if "twistar2" in plan.impls:
            pythons["twistar2"] = ensureTwistar2()
        if profiling:
            profile(plan, pythons)
            return 0
        runner = Runner(plan, pythons)
        for backend, replicated, workloads in plannedRuns(plan):
            with database(backend, replicated, plan.latency) as db:
                runner.runBackend(backend, db, workloads)
    except BenchError as e:
        print(f"\nbench failed: {e}", file=sys.stderr)
        return 1
    samples = writeSamples(runner)
    table, stalls, targets = resultsTable(runner), stallsTable(runner), targetsTable(runner)
    memory = memoryTable(runner)
    if plainWorkloads(plan):
        print(f"\n{table}\n\nLongest reactor stalls:\n\n{stalls}\n")
    if memory:
        print(f"Peak memory:\n\n{memory}\n")
    replicas = replicaTables(runner)
    if replicas:
        print(f"Read replicas:\n\n{replicas}\n")
    if plainWorkloads(plan):
        print(f"Targets (twistar):\n\n{targets}\n")
    seconds = time.monotonic() - began
    say(f"samples in {samples}; {seconds / 60:.1f} minutes")
    if plan.full:
        writeResults(runner, table, stalls, memory, targets, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
