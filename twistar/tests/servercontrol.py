"""
Stop and start the database server of a test run, or its replica, for the
tests of reconnection and of replicas.

Such a server is one that the checkout's C{scripts/run_tests.py} started:
it names the server's JSON state file in the C{TWISTAR_TEST_SERVER_STATE}
environment variable (and its replica's URL and state file in
C{TWISTAR_TEST_REPLICA} and C{TWISTAR_TEST_REPLICA_STATE}), and that state
names the command which controls the server (C{scripts/servers.py}, which is
not installed with twistar).  Nothing here installs or starts anything by
itself.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Optional

#: Environment variable naming the JSON state file of the server under test.
STATE_ENV_VAR = "TWISTAR_TEST_SERVER_STATE"

#: Environment variable giving the URL of a replica of the server under test
#: (a PostgreSQL hot standby or a MariaDB replica).
REPLICA_ENV_VAR = "TWISTAR_TEST_REPLICA"

#: Environment variable naming the JSON state file of that replica.
REPLICA_STATE_ENV_VAR = "TWISTAR_TEST_REPLICA_STATE"


class ServerControlError(Exception):
    """
    The control command failed to stop or start the server.
    """


class ServerControl:
    """
    The server described by a state file, stopped and started by the command
    that state names.

    @ivar stateFile: the path of the JSON state file.
    @ivar command: the control command, to which C{start}, C{stop} or
        C{status} and the state file are appended.
    """

    def __init__(self, stateFile: str, command: list[str]) -> None:
        self.stateFile = stateFile
        self.command = command

    def _run(self, action: str) -> int:
        """
        Run the control command for C{action}.

        @return: its exit status.
        """
        result = subprocess.run([*self.command, action, self.stateFile],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if action != "status" and result.returncode != 0:
            raise ServerControlError("%s of the server failed (exit %d):\n%s%s" % (
                action, result.returncode, result.stdout, result.stderr))
        return result.returncode

    def stop(self) -> None:
        """
        Stop the server (its data is kept). Blocks: call it in a thread.
        """
        self._run("stop")

    def start(self) -> None:
        """
        Start the server again, on the same port with the same data. Blocks:
        call it in a thread.
        """
        self._run("start")

    def isRunning(self) -> bool:
        """
        @return: whether the server is running.
        """
        return self._run("status") == 0


def serverFromEnvironment(variable: str = STATE_ENV_VAR) -> Optional[ServerControl]:
    """
    @param variable: the environment variable naming the state file.
    @return: the server of this test run, from the state file named by
        C{TWISTAR_TEST_SERVER_STATE} (or C{variable}); L{None} when that
        variable is unset or empty (SQLite, or a server the test runner did
        not start).
    """
    path = os.environ.get(variable)
    if not path:
        return None
    state = json.loads(Path(path).read_text())
    return ServerControl(path, list(state["control"]))


def replicaFromEnvironment() -> Optional[ServerControl]:
    """
    @return: the replica of this test run's server (whose URL is
        C{TWISTAR_TEST_REPLICA}), from the state file named by
        C{TWISTAR_TEST_REPLICA_STATE}; L{None} when that variable is unset or
        empty.
    """
    return serverFromEnvironment(REPLICA_STATE_ENV_VAR)
