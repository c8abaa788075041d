"""
One benchmark process: runs the workloads for one implementation on one
backend, and reports on standard output, one JSON object per line, each
prefixed with C{BENCH }:

    BENCH {"type": "meta", ...}            versions of everything involved
    BENCH {"type": "result", "workload": NAME, "status": "ok", "seconds": S,
           "maxStallMs": MS, "rssBeforeMb": MB, "rssPeakMb": MB,
           "referenceSeconds": S, "replicaReads": R, "n": N}
    BENCH {"type": "result", "workload": NAME, "status": "n/a", "reason": ...}
    BENCH {"type": "error", "workload": NAME, "message": ...}

Started by C{bench/run.py} as C{python bench/child.py SPEC}, where C{SPEC} is
JSON: C{impl} (C{raw}, C{sync}, C{libpq}, C{twistar}, C{twistar-nothreads}
or C{twistar2}), C{backend}, C{db} (a
C{path} for SQLite, else C{host}, C{port}, C{user}, C{database}, maybe the
PostgreSQL session C{options}, and for the workloads of replicas a
C{replica} with the same keys),
C{poolSize}, C{workloads} (names), C{quick}, C{repoRoot} (put first on
C{sys.path} for C{twistar}) and optionally C{profile} (a file for cProfile
statistics of the timed parts, pool threads included).

C{maxStallMs} is the reactor's longest stall during the timed work, in
milliseconds, measured by L{StallMeter}; C{rssBeforeMb} and C{rssPeakMb} the
process's resident memory before it and its peak during it, in MiB, measured
by L{MemoryMeter} (C{null} where Linux's C{/proc} is missing).  For a
workload whose step timed its own calls interleaved with a reference's
(L{Interleaved}), C{seconds} is its calls' time and C{referenceSeconds} the
reference's (else C{null}); for one that timed its calls itself, leaving out
the work between them (L{SelfTimed}), C{seconds} is their time, and
C{replicaReads} how many of them ran on a replica when it says (else
C{null}).

The twistar 2.0 child runs under its own virtualenv's Python, where
C{import twistar} finds the published 2.0.  The C{sync} child (PostgreSQL)
runs the workloads' C{sync} steps, blocking, on one plain psycopg (3)
connection in autocommit mode; the C{libpq} child their C{libpq} steps on
the same kind of connection, through its libpq layer alone
(C{connection.pgconn}); the C{twistar-nothreads} child gives twistar a
L{twistar.pgpool.PostgresPool} made by C{twistar.connect(url,
threads=False)}, of the same size.  All still use the adbapi pool for the
untimed setup and checks.
"""

from __future__ import annotations

import cProfile
import gc
import json
import platform
import pstats
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import task
from twisted.internet.defer import Deferred
from workloads import (
    WORKLOADS_BY_NAME,
    Context,
    Interleaved,
    SelfTimed,
    Workload,
    defineModels,
    recreateTables,
)

PREFIX = "BENCH "


def emit(**record: Any) -> None:
    """
    Write one protocol line to standard output.
    """
    sys.stdout.write(PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


def _sqliteOpen(connection: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")


def makePool(backend: str, db: dict[str, Any], size: int) -> adbapi.ConnectionPool:
    """
    @return: the connection pool every implementation uses, with C{size}
        connections (C{cp_min = cp_max}).
    """
    common: dict[str, Any] = {"cp_min": size, "cp_max": size, "cp_noisy": False}
    if backend == "sqlite":
        return adbapi.ConnectionPool("sqlite3", db["path"], check_same_thread=False,
                                     timeout=30, cp_openfun=_sqliteOpen, **common)
    if backend == "postgres":
        if db.get("options"):
            common["options"] = db["options"]
        return adbapi.ConnectionPool("psycopg2", host=db["host"], port=db["port"],
                                     user=db["user"], dbname=db["database"], **common)
    return adbapi.ConnectionPool("MySQLdb", host=db["host"], port=db["port"], user=db["user"],
                                 db=db["database"], charset="utf8mb4", **common)


def _serverVersionQuery(backend: str) -> str:
    return {"sqlite": "SELECT sqlite_version()", "postgres": "SHOW server_version",
            "mysql": "SELECT VERSION()"}[backend]


def _conninfo(db: dict[str, Any]) -> str:
    """
    @return: the libpq connection string of a PostgreSQL C{db}.
    """
    info = f"host={db['host']} port={db['port']} user={db['user']} dbname={db['database']}"
    return info + (f" options='{db['options']}'" if db.get("options") else "")


def _driverVersion(backend: str) -> str:
    if backend == "sqlite":
        import sqlite3

        return f"sqlite3 (SQLite library {sqlite3.sqlite_version})"
    if backend == "postgres":
        import psycopg2

        return f"psycopg2 {psycopg2.__version__.split()[0]}"
    from importlib.metadata import version

    return f"mysqlclient {version('mysqlclient')}"


def checkTwistar(impl: str, repoRoot: str) -> str:
    """
    Make sure the imported twistar is the one this implementation is about.

    @return: a description of it.
    @raise RuntimeError: if it is the wrong one.
    """
    from importlib.metadata import version
    from pathlib import Path

    import twistar

    where = Path(twistar.__file__).resolve()
    inRepo = where.parent == Path(repoRoot).resolve() / "twistar"
    if impl in ("twistar", "twistar-nothreads") and not inRepo:
        raise RuntimeError(f"expected this checkout's twistar, imported {where}")
    if impl == "twistar2":
        found = version("twistar")
        if inRepo or found != "2.0":
            raise RuntimeError(f"expected the published twistar 2.0, imported {found} at {where}")
        return f"twistar {found} ({where.parent})"
    return f"twistar {twistar.version} ({where.parent})"


class Profiler:
    """
    cProfile over the reactor thread and the pool threads, switched on only
    around the timed parts.
    """

    def __init__(self, pool: adbapi.ConnectionPool) -> None:
        self.main = cProfile.Profile()
        self.threads: dict[int, cProfile.Profile] = {}
        self.active = False
        threadpool = pool.threadpool
        original = threadpool.callInThreadWithCallback

        def callInThreadWithCallback(onResult: Any, func: Callable[..., Any], *args: Any,
                                     **kw: Any) -> Any:
            if self.active:
                func = self._wrap(func)
            return original(onResult, func, *args, **kw)

        threadpool.callInThreadWithCallback = callInThreadWithCallback  # type: ignore[method-assign]

    def _wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def profiled(*args: Any, **kw: Any) -> Any:
            profile = self.threads.setdefault(threading.get_ident(), cProfile.Profile())
            profile.enable()
            try:
                return func(*args, **kw)
            finally:
                profile.disable()

        return profiled

    @contextmanager
    def running(self) -> Iterator[None]:
        """
        Profile the block (and the pool-thread work it starts).
        """
        self.active = True
        self.main.enable()
        try:
            yield
        finally:
            self.main.disable()
            self.active = False

    def dump(self, path: str) -> None:
        """
        Write the merged statistics to C{path}.
        """
        stats = pstats.Stats(self.main)
        for profile in self.threads.values():
            stats.add(profile)
        stats.dump_stats(path)


@contextmanager
def _noProfile() -> Iterator[None]:
    yield


class StallMeter:
    """
    Measures the reactor's longest stall during the timed work, in two ways,
    and keeps the longer:

      - the longest stretch of work on the reactor thread between two of
        its waits for events (C{doIteration}, which it wraps to read the
        clock before and after each wait): exact, and costs nothing;
      - how late a timed call, scheduled every L{interval} seconds, runs:
        this also sees the reactor waiting for the GIL while a pool thread
        holds it in a driver's C code (psycopg2 making 100,000 rows holds
        it for about 40 ms), to within L{interval}.

    Every tick makes the reactor take the GIL from the pool thread: ticking
    every 5 ms costs the timed work nothing measurable, every millisecond
    cost raw adbapi's C{all()} on SQLite 3-7%.

    Work that I/O handlers do inside the wait, once it returns, is seen only
    by the ticks; in these workloads the reactor's only I/O is the pool
    threads' wake-ups.

    @ivar worst: the longest stall since L{start}, in seconds.
    @ivar since: when the reactor last came back from a wait.
    @ivar due: when the next tick is due.
    """

    #: Seconds between ticks.
    interval = 0.005

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.worst = 0.0
        self.since = self.due = time.perf_counter()
        self.call: Any = None
        wait = reactor.doIteration

        def doIteration(timeout: float | None) -> None:
            self.worst = max(self.worst, time.perf_counter() - self.since)
            try:
                wait(timeout)
            finally:
                self.since = time.perf_counter()

        reactor.doIteration = doIteration

    def _schedule(self) -> None:
        self.due = time.perf_counter() + self.interval
        self.call = self.reactor.callLater(self.interval, self._tick)

    def _tick(self) -> None:
        self.worst = max(self.worst, time.perf_counter() - self.due)
        self._schedule()

    def start(self) -> None:
        """
        Start measuring now (called on the reactor thread).
        """
        self.worst = 0.0
        self.since = time.perf_counter()
        self._schedule()

    def stop(self) -> float:
        """
        Stop measuring; the stall going on now counts (the work that the
        timed part ended with).

        @return: the longest stall since L{start}, in milliseconds.
        """
        self.call.cancel()
        now = time.perf_counter()
        return max(self.worst, now - self.since, now - self.due) * 1000


class MemoryMeter:
    """
    Measures the process's resident memory (RSS) before the timed work and
    its peak during it, with Linux's own high-water mark: writing C{5} to
    C{/proc/self/clear_refs} sets C{VmHWM} (in C{/proc/self/status}) back to
    the current RSS, and the kernel then raises it at every page the process
    touches, on any thread, so that no peak between two samples is missed.

    @ivar available: whether this system has those files.
    """

    def __init__(self) -> None:
        try:
            self._reset()
            self.available = True
        except OSError:
            self.available = False

    @staticmethod
    def _reset() -> None:
        with open("/proc/self/clear_refs", "w") as clearRefs:
            clearRefs.write("5")

    @staticmethod
    def _status(field: str) -> float:
        """
        @return: a C{/proc/self/status} field (given in kB), in MiB.
        """
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        raise OSError(f"no {field} in /proc/self/status")

    def start(self) -> float | None:
        """
        Start measuring now (after a C{gc.collect()}).

        @return: the RSS now, in MiB, or C{None} when not L{available}.
        """
        if not self.available:
            return None
        self._reset()
        return self._status("VmRSS")

    def stop(self) -> float | None:
        """
        @return: the peak RSS since L{start}, in MiB, or C{None} when not
            L{available}.
        """
        return self._status("VmHWM") if self.available else None


async def runWorkload(ctx: Context, workload: Workload, n: int, profiler: Profiler | None,
                      meter: StallMeter, memory: MemoryMeter) -> None:
    """
    Prepare, time and verify one workload (measuring the reactor's longest
    stall with C{meter} and the peak RSS with C{memory} meanwhile), and
    report it.
    """
    step = {"raw": workload.raw, "sync": workload.sync, "libpq": workload.libpq}.get(
        ctx.impl, workload.orm)
    if step is None or ctx.impl not in ("raw", "sync", "libpq") and not workload.supported(ctx):
        emit(type="result", workload=workload.name, status="n/a",
             reason="not supported by this implementation")
        return
    await recreateTables(ctx, workload.tables)
    ctx.data = await workload.prepare(ctx, n)
    gc.collect()
    with profiler.running() if profiler else _noProfile():
        rssBeforeMb = memory.start()
        meter.start()
        began = time.perf_counter()
        result = await step(ctx, n)
        seconds = time.perf_counter() - began
        maxStallMs = meter.stop()
        rssPeakMb = memory.stop()
    referenceSeconds = replicaReads = None
    if isinstance(result, Interleaved):
        seconds, referenceSeconds, result = result.seconds, result.referenceSeconds, result.result
    elif isinstance(result, SelfTimed):
        seconds, replicaReads, result = result.seconds, result.replicaReads, result.result
    await workload.verify(ctx, n, result)
    ctx.data = result = None
    emit(type="result", workload=workload.name, status="ok", seconds=seconds,
         maxStallMs=maxStallMs, rssBeforeMb=rssBeforeMb, rssPeakMb=rssPeakMb,
         referenceSeconds=referenceSeconds, replicaReads=replicaReads, n=n)


async def main(reactor: Any, spec: dict[str, Any]) -> None:
    """
    Run the workloads of C{spec}.
    """
    impl, backend = spec["impl"], spec["backend"]
    pool = makePool(backend, spec["db"], spec["poolSize"])
    profiler = Profiler(pool) if spec.get("profile") else None
    replica = spec["db"].get("replica")
    replicaPool = makePool(backend, replica, spec["poolSize"]) if replica else None
    ctx = Context(impl=impl, backend=backend, pool=pool, replicaPool=replicaPool)
    twistarInfo = "-"
    driver = _driverVersion(backend)
    ormPool: Any = pool
    if impl in ("sync", "libpq"):
        import psycopg

        ctx.syncConnection = psycopg.connect(_conninfo(spec["db"]), autocommit=True)
        driver = f"psycopg {psycopg.__version__} (one synchronous connection, autocommit)"
        if impl == "libpq":
            from psycopg import pq

            driver = (f"psycopg {psycopg.__version__}'s libpq layer (psycopg.pq, {pq.__impl__}; "
                      f"libpq {pq.version_pretty(pq.version())}; one connection, autocommit, "
                      "prepared statements)")
    elif impl != "raw":
        twistarInfo = checkTwistar(impl, spec["repoRoot"])
        from twistar.registry import Registry

        if impl == "twistar-nothreads":
            import psycopg

            import twistar

            db = spec["db"]
            ormPool = twistar.connect(
                f"postgresql://{db['user']}@{db['host']}:{db['port']}/{db['database']}",
                register=False, threads=False, cp_min=spec["poolSize"],
                cp_max=spec["poolSize"])
            driver = f"psycopg {psycopg.__version__} (twistar.pgpool.PostgresPool)"
        Registry.DBPOOL = ormPool
        ctx.models = defineModels()
    import twisted

    serverVersion = (await pool.runQuery(_serverVersionQuery(backend)))[0][0]
    emit(type="meta", impl=impl, backend=backend, python=platform.python_version(),
         twisted=twisted.__version__, driver=driver, server=str(serverVersion),
         twistar=twistarInfo, poolSize=spec["poolSize"])
    current = None
    meter = StallMeter(reactor)
    memory = MemoryMeter()
    try:
        for name in spec["workloads"]:
            current = name
            workload = WORKLOADS_BY_NAME[name]
            n = workload.quickSize if spec.get("quick") else workload.size
            await runWorkload(ctx, workload, n, profiler, meter, memory)
    except Exception as e:
        emit(type="error", workload=current, message=f"{type(e).__name__}: {e}",
             traceback=traceback.format_exc())
        raise
    finally:
        pool.close()
        if ormPool is not pool:
            ormPool.close()
        if ctx.syncConnection is not None:
            ctx.syncConnection.close()
        if replicaPool is not None:
            replicaPool.close()
    if profiler:
        profiler.dump(spec["profile"])


def run(argv: list[str]) -> None:
    """
    Entry point: C{argv[1]} is the JSON spec.
    """
    spec = json.loads(argv[1])
    if spec["impl"] in ("twistar", "twistar-nothreads"):
        sys.path.insert(0, spec["repoRoot"])
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, spec)))


if __name__ == "__main__":
    run(sys.argv)
