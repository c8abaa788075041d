"""
Throwaway database servers on the loopback interface, for the test suite and
the benchmarks.  This module belongs to the checkout's C{scripts/}, not to the
installed package: it may run C{apt-get}.

Each server lives entirely in a scratch directory: its data directory, its
socket, its log and its pid file.  Nothing is read from, or written to, the
system-wide configuration of the machine, and the servers listen on
C{127.0.0.1} only, on a port picked at random.

Typical use::

    with PostgresServer(baseDir) as server:
        connect(server.url)

The L{state} of a running server is a JSON-able C{dict}; another process can
rebuild the same server from it with L{DatabaseServer.fromState} to stop it
and start it again (same port, same data).  From the command line::

    python scripts/servers.py stop STATEFILE
    python scripts/servers.py start STATEFILE
    python scripts/servers.py status STATEFILE      (exit status 0: running)
    python scripts/servers.py restart STATEFILE [--down SECONDS]
    python scripts/servers.py up postgres|mysql STATEFILE [--base-dir DIR] [--log-bin]
    python scripts/servers.py up postgres-standby|pgbouncer|mysql-replica STATEFILE
                                 --primary PRIMARY_STATEFILE [--base-dir DIR]

Besides the servers themselves (L{PostgresServer}, L{MariaDBServer}) there
are servers that follow one of them, their primary: a streaming hot standby
(L{PostgresStandby}), PgBouncer in transaction pooling mode
(L{PgBouncerServer}) and a GTID replica (L{MariaDBReplica}, of a MariaDB
server that writes a binary log).  Each has a state of its own, so a test can
stop and start a replica alone.

A test run by C{scripts/run_tests.py} against a server finds that server's
state file through the C{TWISTAR_TEST_SERVER_STATE} environment variable
(and its replica's URL and state file through C{TWISTAR_TEST_REPLICA} and
C{TWISTAR_TEST_REPLICA_STATE}); the state names this command (C{"control"}
in L{DatabaseServer.state}), which C{twistar.tests.servercontrol} runs to
stop and start the server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Optional

#: Name of the database created in every server.
DATABASE_NAME = "twistar_test"

#: Environment variable naming the JSON state file of the server under test.
STATE_ENV_VAR = "TWISTAR_TEST_SERVER_STATE"

#: Environment variables giving the URL and the JSON state file of a replica
#: of the server under test.
REPLICA_ENV_VAR = "TWISTAR_TEST_REPLICA"
REPLICA_STATE_ENV_VAR = "TWISTAR_TEST_REPLICA_STATE"

#: Seconds to wait for a server to accept connections.
START_TIMEOUT = 60.0

#: Seconds to wait for a clean shutdown before killing the server.
STOP_TIMEOUT = 20.0


class ServerError(Exception):
    """
    A database server could not be installed, initialised, started or stopped.
    """


def findFreePort() -> int:
    """
    Pick a TCP port on 127.0.0.1 that nothing listens on right now.

    @return: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _portAcceptsConnections(port: int) -> bool:
    """
    @return: whether a TCP connection to C{127.0.0.1:port} succeeds.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _isRoot() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


_aptUpdated = False


def aptInstall(packages: Sequence[str]) -> None:
    """
    Install Debian packages with apt-get (non-interactively).

    @param packages: the package names.
    @raise ServerError: if not root, or if apt-get fails.
    """
    global _aptUpdated
    if not _isRoot():
        raise ServerError(
            "need the Debian packages %s; install them (as root: apt-get install -y %s)"
            % (", ".join(packages), " ".join(packages))
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sys.stderr.write("servers.py: apt-get install %s\n" % " ".join(packages))
    if not _aptUpdated:
        subprocess.run(["apt-get", "update"], env=env, check=False, stdout=subprocess.DEVNULL)
        _aptUpdated = True
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env
    )
    if result.returncode != 0:
        raise ServerError("apt-get install %s failed" % " ".join(packages))


def _tail(path: Path, lines: int = 30) -> str:
    """
    @return: the last C{lines} lines of a log file, or a note that it is missing.
    """
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log at %s)" % path
    return "\n".join(text.splitlines()[-lines:])


def _pidIn(pidFile: Path) -> Optional[int]:
    """
    @return: the process id a server wrote to C{pidFile}, or L{None}.
    """
    try:
        return int(pidFile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pidAlive(pid: int) -> bool:
    """
    @return: whether process C{pid} exists and is not a zombie.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return True
    # The state is the first field after the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _asPostgresUser(argv: list[str]) -> list[str]:
    """
    @return: C{argv} run as the C{postgres} OS user when we are root (the
        PostgreSQL programs and PgBouncer refuse to run as root).
    """
    if _isRoot():
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _giveToPostgresUser(*paths: Path) -> None:
    """
    When we are root, make C{paths} belong to the C{postgres} OS user and let
    that user walk down to them.
    """
    if not _isRoot():
        return
    import pwd
    entry = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    for ancestor in paths[0].resolve().parents:
        mode = ancestor.stat().st_mode
        if not mode & 0o001:
            os.chmod(ancestor, mode | 0o001)


class DatabaseServer:
    """
    Common behaviour of the throwaway servers.

    @ivar baseDir: directory holding everything the server writes.
    @ivar port: TCP port on 127.0.0.1.
    @ivar primaryPort: for a server that replicates or pools another one
        (its primary, of kind L{primaryKind}), that server's port.
    """

    kind: ClassVar[str] = ""
    scheme: ClassVar[str] = ""
    user: ClassVar[str] = ""
    #: The kind of the primary a server of this class needs ("" for none).
    primaryKind: ClassVar[str] = ""

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None, primaryPort: Optional[int] = None) -> None:
        """
        @param baseDir: an existing directory in which the server makes its
            own sub-directory; a new temporary directory when L{None} (and then
            it is removed when the context manager exits).
        @param port: the TCP port to listen on; a free one when L{None}.
        @param primaryPort: the port of the primary, for a class with a
            L{primaryKind}.
        """
        if self.primaryKind and primaryPort is None:
            raise ServerError("a %s server needs the port of its %s primary"
                              % (self.kind, self.primaryKind))
        if baseDir is None:
            self._ownsBaseDir = True
            parent = Path(tempfile.mkdtemp(prefix="twistar-%s-" % self.kind))
        else:
            self._ownsBaseDir = False
            parent = Path(baseDir).absolute()
            parent.mkdir(parents=True, exist_ok=True)
        self._parentDir = parent
        self.baseDir = parent / self.kind
        self.port = port if port is not None else findFreePort()
        self.primaryPort = primaryPort
        self._initialised = False
        self.startSeconds: Optional[float] = None
        self.stopSeconds: Optional[float] = None

    @classmethod
    def forPrimary(cls, primary: DatabaseServer,
                   baseDir: Optional[str | os.PathLike[str]] = None,
                   port: Optional[int] = None) -> DatabaseServer:
        """
        Make a server that replicates or pools C{primary} (not started yet).

        @param primary: a server of kind L{primaryKind}.
        @param baseDir: as for L{__init__}.
        @param port: as for L{__init__}.
        @raise ServerError: if C{primary} is of the wrong kind.
        """
        if not cls.primaryKind or primary.kind != cls.primaryKind:
            raise ServerError("a %s server cannot follow a %s server"
                              % (cls.kind, primary.kind))
        return cls(baseDir, port=port, primaryPort=primary.port)

    # -- public API ------------------------------------------------------

    @property
    def url(self) -> str:
        """
        The URL of the test database, e.g.
        C{postgresql://postgres@127.0.0.1:5432/twistar_test}.
        """
        return "%s://%s@127.0.0.1:%d/%s" % (self.scheme, self.user, self.port, DATABASE_NAME)

    def start(self) -> None:
        """
        Initialise the data directory if needed, start the server, wait until
        it accepts connections, and create the test database if needed.

        @raise ServerError: if any of that fails.
        """
        began = time.monotonic()
        self._ensureInstalled()
        if not self._initialised:
            self._prepareBaseDir()
            self._initialise()
            self._initialised = True
        self._start()
        self._createDatabase()
        self.startSeconds = time.monotonic() - began

    def stop(self) -> None:
        """
        Shut the server down cleanly (killing it if it will not stop).  The
        data directory is kept, so that L{start} brings the same data back.
        Stopping a server that is not running does nothing.
        """
        began = time.monotonic()
        self._stop()
        self.stopSeconds = time.monotonic() - began

    def restart(self, downSeconds: float = 0) -> None:
        """
        Stop the server, wait C{downSeconds}, and start it again on the same
        port with the same data.
        """
        self.stop()
        if downSeconds > 0:
            time.sleep(downSeconds)
        self.start()

    def isRunning(self) -> bool:
        """
        @return: whether the server process is alive.
        """
        raise NotImplementedError()

    def remove(self) -> None:
        """
        Stop the server and delete its directory (and the temporary parent
        directory, if this object made it).
        """
        self.stop()
        shutil.rmtree(self.baseDir, ignore_errors=True)
        if self._ownsBaseDir:
            shutil.rmtree(self._parentDir, ignore_errors=True)

    def state(self) -> dict[str, Any]:
        """
        @return: a JSON-able description from which L{fromState} rebuilds an
            equivalent object (in this or another process).
        """
        return {
            "kind": self.kind,
            "parentDir": str(self._parentDir),
            "ownsBaseDir": self._ownsBaseDir,
            "port": self.port,
            "url": self.url,
            "initialised": self._initialised,
            "primaryPort": self.primaryPort,
            "control": [sys.executable, str(Path(__file__).resolve())],
        }

    @classmethod
    def fromState(cls, state: dict[str, Any]) -> DatabaseServer:
        """
        Rebuild a server from L{state}.  When called on L{DatabaseServer}
        itself the right subclass is chosen from C{state["kind"]}.

        @param state: a dict returned by L{state}.
        """
        kind = state.get("kind")
        if cls is DatabaseServer:
            for klass in (PostgresServer, PostgresStandby, PgBouncerServer, MariaDBServer,
                          MariaDBReplica):
                if klass.kind == kind:
                    return klass.fromState(state)
            raise ServerError("unknown server kind %r" % (kind,))
        if kind != cls.kind:
            raise ServerError("state of a %r server given to %s" % (kind, cls.__name__))
        primaryPort = state.get("primaryPort")
        server = cls(state["parentDir"], port=int(state["port"]),
                     primaryPort=None if primaryPort is None else int(primaryPort))
        server._ownsBaseDir = bool(state.get("ownsBaseDir", False))
        server._initialised = bool(state.get("initialised", False))
        return server

    def writeState(self, path: str | os.PathLike[str]) -> None:
        """
        Write L{state} as JSON to C{path}.
        """
        Path(path).write_text(json.dumps(self.state(), indent=2) + "\n")

    def __enter__(self) -> DatabaseServer:
        try:
            self.start()
        except BaseException:
            self._cleanupAfterFailedStart()
            raise
        return self

    def __exit__(self, excType: Optional[type[BaseException]],
                 excValue: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if self._ownsBaseDir:
            self.remove()
        else:
            self.stop()

    def __repr__(self) -> str:
        return "<%s %s in %s>" % (type(self).__name__, self.url, self.baseDir)

    # -- for subclasses --------------------------------------------------

    def _cleanupAfterFailedStart(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    def _ensureInstalled(self) -> None:
        raise NotImplementedError()

    def _prepareBaseDir(self) -> None:
        self.baseDir.mkdir(parents=True, exist_ok=True)

    def _initialise(self) -> None:
        raise NotImplementedError()

    def _start(self) -> None:
        raise NotImplementedError()

    def _stop(self) -> None:
        raise NotImplementedError()

    def _createDatabase(self) -> None:
        raise NotImplementedError()


class PostgresServer(DatabaseServer):
    """
    A PostgreSQL server, run as the C{postgres} OS user when we are root,
    with authentication method C{trust} and durability turned off.
    """

    kind = "postgres"
    scheme = "postgresql"
    user = "postgres"

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None, primaryPort: Optional[int] = None) -> None:
        super().__init__(baseDir, port, primaryPort)
        self.dataDir = self.baseDir / "data"
        self.socketDir = self.baseDir / "socket"
        self.logFile = self.baseDir / "postgres.log"
        self._binDir: Optional[Path] = None

    @staticmethod
    def findBinDir() -> Optional[Path]:
        """
        @return: C{/usr/lib/postgresql/<highest version>/bin}, or the directory
            of C{pg_ctl} on C{PATH}, or L{None}.
        """
        root = Path("/usr/lib/postgresql")
        candidates: list[tuple[float, Path]] = []
        if root.is_dir():
            for entry in root.iterdir():
                try:
                    version = float(entry.name)
                except ValueError:
                    continue
                if (entry / "bin" / "initdb").exists():
                    candidates.append((version, entry / "bin"))
        if candidates:
            return max(candidates)[1]
        pgCtl = shutil.which("pg_ctl")
        if pgCtl and Path(pgCtl).with_name("initdb").exists():
            return Path(pgCtl).parent
        return None

    def _ensureInstalled(self) -> None:
        if self._binDir is not None:
            return
        binDir = self.findBinDir()
        if binDir is None:
            aptInstall(["postgresql"])
            binDir = self.findBinDir()
            if binDir is None:
                raise ServerError("installed postgresql but found no initdb")
        self._binDir = binDir

    def _bin(self, name: str) -> str:
        assert self._binDir is not None
        return str(self._binDir / name)

    def _run(self, argv: list[str], what: str, asServerUser: bool = True,
             timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        if asServerUser:
            argv = _asPostgresUser(argv)
        try:
            result = subprocess.run(
                argv, cwd=str(self.baseDir), capture_output=True, text=True,
                timeout=timeout, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise ServerError("%s timed out after %ss: %s\n%s"
                              % (what, timeout, " ".join(argv), _tail(self.logFile))) from e
        if result.returncode != 0:
            raise ServerError(
                "%s failed (exit %d): %s\n%s%s\n%s"
                % (what, result.returncode, " ".join(argv), result.stdout,
                   result.stderr, _tail(self.logFile))
            )
        return result

    def _prepareBaseDir(self) -> None:
        super()._prepareBaseDir()
        self.socketDir.mkdir(exist_ok=True)
        _giveToPostgresUser(self.baseDir, self.socketDir)

    def _initialise(self) -> None:
        if (self.dataDir / "PG_VERSION").exists():
            return
        self._run([self._bin("initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--locale=C", "-D", str(self.dataDir)], "initdb")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "unix_socket_directories": "'%s'" % self.socketDir,
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            # For a PostgresStandby: streaming replication (pg_hba.conf of
            # initdb -A trust already lets 127.0.0.1 replicate).
            "wal_level": "replica",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
        }
        self._appendSettings(settings)

    def _appendSettings(self, settings: dict[str, str]) -> None:
        with open(self.dataDir / "postgresql.conf", "a") as conf:
            conf.write("\n# twistar test server\n")
            for key, value in settings.items():
                conf.write("%s = %s\n" % (key, value))

    def _serverOptions(self) -> str:
        return (
            "-c listen_addresses=127.0.0.1 -c port=%d -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
            " -c unix_socket_directories=%s -c max_connections=200"
            % (self.port, self.socketDir)
        )

    def isRunning(self) -> bool:
        if not (self.dataDir / "PG_VERSION").exists():
            return False
        pid = _pidIn(self.dataDir / "postmaster.pid")
        return pid is not None and _pidAlive(pid)

    def _start(self) -> None:
        if self.isRunning():
            return
        if _portAcceptsConnections(self.port):
            raise ServerError("port %d is already in use" % self.port)
        self._run([self._bin("pg_ctl"), "-D", str(self.dataDir), "-l", str(self.logFile),
                   "-o", self._serverOptions(), "-w", "-t", str(int(START_TIMEOUT)),
                   "start"], "pg_ctl start", timeout=START_TIMEOUT + 10)

    def _stop(self) -> None:
        if self._binDir is None:
            self._binDir = self.findBinDir()
        if self._binDir is None or not self.isRunning():
            return
        try:
            self._run([self._bin("pg_ctl"), "-D", str(self.dataDir), "-m", "fast", "-w",
                       "-t", str(int(STOP_TIMEOUT)), "stop"], "pg_ctl stop",
                      timeout=STOP_TIMEOUT + 10)
        except ServerError:
            if self.isRunning():
                self._run([self._bin("pg_ctl"), "-D", str(self.dataDir), "-m",
                           "immediate", "-w", "stop"], "pg_ctl stop -m immediate",
                          timeout=STOP_TIMEOUT + 10)

    def _psql(self, sql: str, database: str = "postgres", port: Optional[int] = None) -> str:
        result = self._run([self._bin("psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1",
                            "-p", str(port or self.port), "-U", "postgres", "-d", database,
                            "-v", "ON_ERROR_STOP=1", "-c", sql], "psql", asServerUser=False)
        return result.stdout.strip()

    def _createDatabase(self) -> None:
        exists = self._psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % DATABASE_NAME)
        if exists != "1":
            self._psql("CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0" % DATABASE_NAME)

    def state(self) -> dict[str, Any]:
        state = super().state()
        state["dataDir"] = str(self.dataDir)
        if self._binDir is not None:
            state["binDir"] = str(self._binDir)
        return state

    @classmethod
    def fromState(cls, state: dict[str, Any]) -> DatabaseServer:
        server = super().fromState(state)
        assert isinstance(server, PostgresServer)
        if state.get("binDir"):
            server._binDir = Path(state["binDir"])
        return server


class PostgresStandby(PostgresServer):
    """
    A hot standby of a running L{PostgresServer} (its primary): a copy of the
    primary made with C{pg_basebackup -R}, which streams the primary's WAL
    through a replication slot of its own (so that the primary keeps the WAL
    a stopped standby still needs) and answers read-only queries.  Make one
    with L{forPrimary}.
    """

    kind = "postgres-standby"
    primaryKind = "postgres"

    @property
    def slotName(self) -> str:
        """
        The name of this standby's replication slot on the primary.
        """
        return "twistar_standby_%d" % self.port

    def _initialise(self) -> None:
        if (self.dataDir / "PG_VERSION").exists():
            return
        # A slot left by an earlier attempt would make pg_basebackup -C fail.
        self._psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                   " WHERE slot_name = '%s' AND NOT active" % self.slotName,
                   port=self.primaryPort)
        self._run([self._bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primaryPort),
                   "-U", "postgres", "-D", str(self.dataDir), "-R", "-X", "stream",
                   "-c", "fast", "-C", "-S", self.slotName, "--no-sync"], "pg_basebackup")
        self._appendSettings({
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.socketDir,
            "hot_standby": "on",
            # No query cancelled because the primary vacuumed rows it reads.
            "hot_standby_feedback": "on",
            # Reconnect soon after a restart of the primary.
            "wal_retrieve_retry_interval": "'200ms'",
            "wal_receiver_status_interval": "'1s'",
        })

    def _createDatabase(self) -> None:
        # The database comes from the primary; a standby cannot create it.
        deadline = time.monotonic() + START_TIMEOUT
        query = "SELECT 1 FROM pg_database WHERE datname = '%s'" % DATABASE_NAME
        while self._psql(query) != "1":
            if time.monotonic() > deadline:
                raise ServerError("database %s did not reach the standby within %ss"
                                  % (DATABASE_NAME, START_TIMEOUT))
            time.sleep(0.1)

    def remove(self) -> None:
        """
        As L{DatabaseServer.remove}, and drop the replication slot on the
        primary if the primary is up.
        """
        self.stop()
        if self._binDir is not None and _portAcceptsConnections(self.primaryPort or 0):
            try:
                self._psql("SELECT pg_drop_replication_slot('%s')" % self.slotName,
                           port=self.primaryPort)
            except ServerError:
                pass
        super().remove()


class PgBouncerServer(DatabaseServer):
    """
    PgBouncer in front of a running L{PostgresServer} (its primary), in
    transaction pooling mode, with authentication method C{trust} for the
    user C{postgres}; run as the C{postgres} OS user when we are root.  Its
    L{url} names the primary's test database through PgBouncer.  Make one
    with L{forPrimary}.
    """

    kind = "pgbouncer"
    scheme = "postgresql"
    user = "postgres"
    primaryKind = "postgres"

    #: Startup parameters some drivers send and PgBouncer would refuse.
    IGNORED_STARTUP_PARAMETERS = ("extra_float_digits",)

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None, primaryPort: Optional[int] = None) -> None:
        super().__init__(baseDir, port, primaryPort)
        self.configFile = self.baseDir / "pgbouncer.ini"
        self.authFile = self.baseDir / "userlist.txt"
        self.pidFile = self.baseDir / "pgbouncer.pid"
        self.logFile = self.baseDir / "pgbouncer.log"

    @staticmethod
    def _program() -> Optional[str]:
        for found in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
            if found and os.access(found, os.X_OK):
                return found
        return None

    def _ensureInstalled(self) -> None:
        if self._program() is None:
            aptInstall(["pgbouncer"])
            if self._program() is None:
                raise ServerError("installed pgbouncer but cannot find it")

    def _prepareBaseDir(self) -> None:
        super()._prepareBaseDir()
        _giveToPostgresUser(self.baseDir)

    def _initialise(self) -> None:
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(self.authFile),
            "admin_users": "postgres",
            "pool_mode": "transaction",
            # The suite opens many pools; the server allows 200 connections.
            "max_client_conn": "2000",
            "default_pool_size": "100",
            "max_db_connections": "150",
            "ignore_startup_parameters": ",".join(self.IGNORED_STARTUP_PARAMETERS),
            # Reconnect soon after a restart of the server; while it is
            # down, fail a query after a few seconds, not the default 120.
            "server_login_retry": "1",
            "server_connect_timeout": "5",
            "query_wait_timeout": "5",
            "log_connections": "0",
            "log_disconnections": "0",
            "logfile": str(self.logFile),
            "pidfile": str(self.pidFile),
        }
        lines = ["[databases]", "* = host=127.0.0.1 port=%d" % (self.primaryPort or 0), "",
                 "[pgbouncer]", *("%s = %s" % item for item in settings.items())]
        self.configFile.write_text("\n".join(lines) + "\n")
        self.authFile.write_text('"postgres" ""\n')
        _giveToPostgresUser(self.configFile, self.authFile)

    def isRunning(self) -> bool:
        pid = _pidIn(self.pidFile)
        return pid is not None and _pidAlive(pid)

    def _start(self) -> None:
        if self.isRunning():
            return
        if _portAcceptsConnections(self.port):
            raise ServerError("port %d is already in use" % self.port)
        self.pidFile.unlink(missing_ok=True)
        program = self._program()
        assert program is not None
        argv = _asPostgresUser([program, "-d", "-q", str(self.configFile)])
        result = subprocess.run(argv, cwd=str(self.baseDir), capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
        if result.returncode != 0:
            raise ServerError("pgbouncer failed (exit %d): %s%s\n%s" % (
                result.returncode, result.stdout, result.stderr, _tail(self.logFile)))
        deadline = time.monotonic() + START_TIMEOUT
        while not _portAcceptsConnections(self.port):
            if time.monotonic() > deadline or (self.pidFile.exists() and not self.isRunning()):
                raise ServerError("pgbouncer did not listen on port %d:\n%s"
                                  % (self.port, _tail(self.logFile)))
            time.sleep(0.05)

    def _stop(self) -> None:
        pid = _pidIn(self.pidFile)
        if pid is None or not _pidAlive(pid):
            return
        # SIGTERM: immediate shutdown (SIGINT would wait for the clients).
        for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while _pidAlive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _pidAlive(pid):
                break
        self.pidFile.unlink(missing_ok=True)

    def _createDatabase(self) -> None:
        # The database is the primary's.
        pass


class MariaDBServer(DatabaseServer):
    """
    A MariaDB (or MySQL) server, run in the background, with C{root} and an
    empty password over TCP, C{utf8mb4} and durability turned off.

    @ivar logBin: whether the server writes a binary log (server id 1,
        row-based), which a L{MariaDBReplica} needs.
    """

    kind = "mysql"
    scheme = "mysql"
    user = "root"

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None, primaryPort: Optional[int] = None,
                 logBin: bool = False) -> None:
        super().__init__(baseDir, port, primaryPort)
        self.logBin = logBin
        self.dataDir = self.baseDir / "data"
        self.socketPath = self.baseDir / "mysqld.sock"
        self.pidFile = self.baseDir / "mysqld.pid"
        self.logFile = self.baseDir / "mysqld.log"
        self._process: Optional[subprocess.Popen[bytes]] = None

    @staticmethod
    def _which(*names: str) -> Optional[str]:
        for name in names:
            for found in (shutil.which(name), "/usr/sbin/" + name, "/usr/bin/" + name):
                if found and os.access(found, os.X_OK):
                    return found
        return None

    def _ensureInstalled(self) -> None:
        if self._which("mariadbd", "mysqld") and self._which("mariadb-install-db",
                                                            "mysql_install_db"):
            return
        aptInstall(["mariadb-server", "mariadb-client", "libmariadb-dev", "pkg-config"])
        if not self._which("mariadbd", "mysqld"):
            raise ServerError("installed mariadb-server but found no mariadbd")

    def _binary(self, *names: str) -> str:
        found = self._which(*names)
        if found is None:
            raise ServerError("cannot find %s" % " or ".join(names))
        return found

    def _initialise(self) -> None:
        if (self.dataDir / "mysql").is_dir():
            return
        self.dataDir.mkdir(parents=True, exist_ok=True)
        argv = [
            self._binary("mariadb-install-db", "mysql_install_db"),
            "--no-defaults",
            "--datadir=%s" % self.dataDir,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if _isRoot():
            argv.append("--user=root")
        with open(self.logFile, "ab") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=str(self.baseDir),
                                    timeout=START_TIMEOUT * 2)
        if result.returncode != 0:
            raise ServerError("mariadb-install-db failed (exit %d):\n%s"
                              % (result.returncode, _tail(self.logFile)))

    def _serverArgv(self) -> list[str]:
        argv = [
            self._binary("mariadbd", "mysqld"),
            "--no-defaults",
            "--datadir=%s" % self.dataDir,
            "--port=%d" % self.port,
            "--bind-address=127.0.0.1",
            "--socket=%s" % self.socketPath,
            "--pid-file=%s" % self.pidFile,
            "--log-error=%s" % self.logFile,
            "--tmpdir=%s" % self.baseDir,
            "--skip-name-resolve",
            *self._replicationArguments(),
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--innodb-buffer-pool-size=256M",
            "--innodb-use-native-aio=0",
            "--skip-external-locking",
            "--max-connections=300",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_bin",
            "--sql-mode=STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
            "--default-time-zone=+00:00",
        ]
        if _isRoot():
            argv.append("--user=root")
        return argv

    def _replicationArguments(self) -> list[str]:
        if self.logBin:
            return ["--server-id=1", "--log-bin=mysql-bin", "--binlog-format=ROW"]
        return ["--skip-log-bin"]

    def isRunning(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        pid = _pidIn(self.pidFile)
        return pid is not None and _pidAlive(pid)

    def _client(self, sql: str, database: Optional[str] = None, timeout: float = 10,
                port: Optional[int] = None) -> subprocess.CompletedProcess[str]:
        argv = [self._binary("mariadb", "mysql"), "--no-defaults", "-uroot",
                "-h127.0.0.1", "-P%d" % (port or self.port), "--protocol=tcp", "-N", "-B",
                "-e", sql]
        if database:
            argv.append(database)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def _start(self) -> None:
        if self.isRunning():
            return
        if _portAcceptsConnections(self.port):
            raise ServerError("port %d is already in use" % self.port)
        self.pidFile.unlink(missing_ok=True)
        with open(self.logFile, "ab") as log:
            self._process = subprocess.Popen(
                self._serverArgv(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=str(self.baseDir), start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        lastError = ""
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise ServerError("mariadbd exited with code %d while starting:\n%s"
                                  % (code, _tail(self.logFile)))
            if _portAcceptsConnections(self.port):
                try:
                    result = self._client("SELECT 1")
                except subprocess.TimeoutExpired:
                    lastError = "client timed out"
                else:
                    if result.returncode == 0:
                        return
                    lastError = result.stderr.strip()
            time.sleep(0.1)
        self._kill()
        raise ServerError("mariadbd did not accept connections on port %d within %ss"
                          " (last error: %s):\n%s"
                          % (self.port, START_TIMEOUT, lastError, _tail(self.logFile)))

    def _waitGone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not _pidAlive(pid):
                return True
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        pid = _pidIn(self.pidFile)
        if pid is None and self._process is not None:
            pid = self._process.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._waitGone(pid, 5)

    def _stop(self) -> None:
        # Reap a server we started that someone else has already stopped.
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        pid = _pidIn(self.pidFile)
        if pid is None and self._process is not None:
            pid = self._process.pid
        if pid is None or not _pidAlive(pid):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not self._waitGone(pid, STOP_TIMEOUT):
            sys.stderr.write("servers.py: mariadbd %d did not stop within %ss;"
                             " killing it\n" % (pid, STOP_TIMEOUT))
            self._kill()
        # Wait until the port is free so that a restart can reuse it.
        deadline = time.monotonic() + 5
        while _portAcceptsConnections(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._process is not None:
            self._process.poll()
            self._process = None

    def _createDatabase(self) -> None:
        result = self._client(
            "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            % DATABASE_NAME
        )
        if result.returncode != 0:
            raise ServerError("cannot create database %s: %s"
                              % (DATABASE_NAME, result.stderr.strip()))

    def state(self) -> dict[str, Any]:
        state = super().state()
        state["logBin"] = self.logBin
        return state

    @classmethod
    def fromState(cls, state: dict[str, Any]) -> DatabaseServer:
        server = super().fromState(state)
        assert isinstance(server, MariaDBServer)
        server.logBin = bool(state.get("logBin", False))
        return server


class MariaDBReplica(MariaDBServer):
    """
    A read-only GTID replica of a running L{MariaDBServer} (its primary, which
    must write a binary log: C{logBin=True}).  It starts from an empty
    database and replays the primary's whole binary log, so make it while
    the primary's log still holds everything (right after the primary
    started).  Make one with L{forPrimary}.
    """

    kind = "mysql-replica"
    primaryKind = "mysql"

    def _replicationArguments(self) -> list[str]:
        # A server id of its own: the port is unique among these servers.
        return ["--server-id=%d" % self.port, "--skip-log-bin", "--read-only=ON",
                "--relay-log=relay-bin", "--slave-net-timeout=10"]

    def _sql(self, sql: str, port: Optional[int] = None) -> str:
        result = self._client(sql, port=port)
        if result.returncode != 0:
            raise ServerError("%s failed on port %d: %s"
                              % (sql, port or self.port, result.stderr.strip()))
        return result.stdout.strip()

    def _createDatabase(self) -> None:
        # The database comes from the primary.  Set up replication the first
        # time, then wait until this replica has caught up with the primary.
        if self._sql("SHOW SLAVE STATUS"):
            return
        if self._sql("SELECT @@log_bin", port=self.primaryPort) != "1":
            raise ServerError("the primary on port %d writes no binary log"
                              % (self.primaryPort or 0))
        self._sql("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d,"
                  " MASTER_USER='root', MASTER_PASSWORD='', MASTER_CONNECT_RETRY=1,"
                  " MASTER_USE_GTID=slave_pos" % (self.primaryPort or 0))
        self._sql("START SLAVE")
        position = self._sql("SELECT @@gtid_binlog_pos", port=self.primaryPort)
        waited = self._client("SELECT MASTER_GTID_WAIT('%s', %d)"
                              % (position, START_TIMEOUT), timeout=START_TIMEOUT + 10)
        if waited.returncode != 0 or waited.stdout.strip() != "0":
            raise ServerError("the replica did not reach the primary's position %s:\n%s%s"
                              % (position, waited.stderr,
                                 self._client("SHOW SLAVE STATUS\\G").stdout))
        if self._sql("SHOW DATABASES LIKE '%s'" % DATABASE_NAME) != DATABASE_NAME:
            raise ServerError("database %s did not reach the replica" % DATABASE_NAME)


def serverFromState(state: dict[str, Any]) -> DatabaseServer:
    """
    Rebuild a server of the right kind from its L{DatabaseServer.state}.
    """
    return DatabaseServer.fromState(state)


def loadState(path: str | os.PathLike[str]) -> DatabaseServer:
    """
    Rebuild a server from a JSON state file written by
    L{DatabaseServer.writeState}.
    """
    state = json.loads(Path(path).read_text())
    if not isinstance(state, dict):
        raise ServerError("%s does not hold a server state" % (path,))
    return serverFromState(state)


SERVER_CLASSES: dict[str, type[DatabaseServer]] = {
    "postgres": PostgresServer,
    "postgresql": PostgresServer,
    "mysql": MariaDBServer,
    "mariadb": MariaDBServer,
    "postgres-standby": PostgresStandby,
    "mysql-replica": MariaDBReplica,
    "pgbouncer": PgBouncerServer,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Command-line entry point; see the module docstring.
    """
    parser = argparse.ArgumentParser(prog="python scripts/servers.py",
                                     description="Manage throwaway test database servers.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helpText in (("start", "start the server described by STATEFILE"),
                           ("stop", "stop the server described by STATEFILE"),
                           ("status", "exit with status 0 if the server is running"),
                           ("restart", "stop, then start, the server in STATEFILE"),
                           ("remove", "stop the server and delete its files")):
        cmd = sub.add_parser(name, help=helpText)
        cmd.add_argument("statefile")
        if name == "restart":
            cmd.add_argument("--down", type=float, default=0.0,
                             help="seconds to stay down between stop and start")
    up = sub.add_parser("up", help="create and start a new server, writing STATEFILE")
    up.add_argument("kind", choices=sorted(SERVER_CLASSES))
    up.add_argument("statefile")
    up.add_argument("--base-dir", default=None)
    up.add_argument("--port", type=int, default=None)
    up.add_argument("--primary", metavar="STATEFILE",
                    help="the state file of the primary (postgres-standby, pgbouncer:"
                         " a postgres server; mysql-replica: a mysql server started with"
                         " --log-bin)")
    up.add_argument("--log-bin", action="store_true",
                    help="mysql: write a binary log, for a mysql-replica")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            klass = SERVER_CLASSES[args.kind]
            server: DatabaseServer
            if klass.primaryKind:
                if not args.primary:
                    parser.error("a %s server needs --primary" % args.kind)
                server = klass.forPrimary(loadState(args.primary), args.base_dir, args.port)
            elif klass is MariaDBServer:
                server = MariaDBServer(args.base_dir, port=args.port, logBin=args.log_bin)
            else:
                server = klass(args.base_dir, port=args.port)
            server.start()
            server.writeState(args.statefile)
            print(server.url)
            return 0
        server = loadState(args.statefile)
        if args.command == "start":
            server.start()
        elif args.command == "stop":
            server.stop()
        elif args.command == "status":
            return 0 if server.isRunning() else 3
        elif args.command == "restart":
            server.restart(args.down)
        elif args.command == "remove":
            server.remove()
    except ServerError as e:
        sys.stderr.write("error: %s\n" % (e,))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
