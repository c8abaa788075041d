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
    python scripts/servers.py up postgres|mysql STATEFILE [--base-dir DIR]

A test run by C{scripts/run_tests.py} against a server finds that server's
state file through the C{TWISTAR_TEST_SERVER_STATE} environment variable;
the state names this command (C{"control"} in L{DatabaseServer.state}),
which C{twistar.tests.servercontrol} runs to stop and start the server.
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


class DatabaseServer:
    """
    Common behaviour of the throwaway servers.

    @ivar baseDir: directory holding everything the server writes.
    @ivar port: TCP port on 127.0.0.1.
    """

    kind: ClassVar[str] = ""
    scheme: ClassVar[str] = ""
    user: ClassVar[str] = ""

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None) -> None:
        """
        @param baseDir: an existing directory in which the server makes its
            own sub-directory; a new temporary directory when L{None} (and then
            it is removed when the context manager exits).
        @param port: the TCP port to listen on; a free one when L{None}.
        """
        if baseDir is None:
            self._ownsBaseDir = True
            parent = Path(tempfile.mkdtemp(prefix="twistar-%s-" % self.kind))
        else:
            self._ownsBaseDir = False
            parent = Path(baseDir)
            parent.mkdir(parents=True, exist_ok=True)
        self._parentDir = parent
        self.baseDir = parent / self.kind
        self.port = port if port is not None else findFreePort()
        self._initialised = False
        self.startSeconds: Optional[float] = None
        self.stopSeconds: Optional[float] = None

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
            for klass in (PostgresServer, MariaDBServer):
                if klass.kind == kind:
                    return klass.fromState(state)
            raise ServerError("unknown server kind %r" % (kind,))
        if kind != cls.kind:
            raise ServerError("state of a %r server given to %s" % (kind, cls.__name__))
        server = cls(state["parentDir"], port=int(state["port"]))
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
                 port: Optional[int] = None) -> None:
        super().__init__(baseDir, port)
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

    def _asServerUser(self, argv: list[str]) -> list[str]:
        if _isRoot():
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str, asServerUser: bool = True,
             timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        if asServerUser:
            argv = self._asServerUser(argv)
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
        if _isRoot():
            import pwd
            entry = pwd.getpwnam("postgres")
            for path in (self.baseDir, self.socketDir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            # The postgres user must be able to walk down to its directory.
            for ancestor in self.baseDir.resolve().parents:
                mode = ancestor.stat().st_mode
                if not mode & 0o001:
                    os.chmod(ancestor, mode | 0o001)

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
        }
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
        pidFile = self.dataDir / "postmaster.pid"
        try:
            pid = int(pidFile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return _pidAlive(pid)

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

    def _psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run([self._bin("psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "postgres", "-d", database,
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


class MariaDBServer(DatabaseServer):
    """
    A MariaDB (or MySQL) server, run in the background, with C{root} and an
    empty password over TCP, C{utf8mb4} and durability turned off.
    """

    kind = "mysql"
    scheme = "mysql"
    user = "root"

    def __init__(self, baseDir: Optional[str | os.PathLike[str]] = None,
                 port: Optional[int] = None) -> None:
        super().__init__(baseDir, port)
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
            "--skip-log-bin",
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

    def _readPid(self) -> Optional[int]:
        try:
            return int(self.pidFile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def isRunning(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        pid = self._readPid()
        return pid is not None and _pidAlive(pid)

    def _client(self, sql: str, database: Optional[str] = None,
                timeout: float = 10) -> subprocess.CompletedProcess[str]:
        argv = [self._binary("mariadb", "mysql"), "--no-defaults", "-uroot",
                "-h127.0.0.1", "-P%d" % self.port, "--protocol=tcp", "-N", "-B",
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
        pid = self._readPid()
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
        pid = self._readPid()
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
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            server = SERVER_CLASSES[args.kind](args.base_dir, port=args.port)
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
