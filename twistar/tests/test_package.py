"""
Tests of twistar as a package: the version it reports, and nothing in it
(its tests included) that installs system packages.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installedVersion
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

import twistar

_INSTALL_COMMAND = re.compile(r"\b(apt-get|apt|dnf|yum|apk|brew)\b[\"', ]+install\b")


class VersionTests(SynchronousTestCase):
    """
    C{twistar.__version__} and the older C{version} and C{version_info}.
    """

    def test_version(self) -> None:
        """
        C{__version__} is a release number, which C{version} and
        C{version_info} repeat.
        """
        self.assertRegex(twistar.__version__, r"\A\d+\.\d+\.\d+\Z")
        self.assertEqual(twistar.version, twistar.__version__)
        self.assertEqual(".".join(map(str, twistar.version_info)), twistar.__version__)

    def test_distribution(self) -> None:
        """
        The installed distribution has the version C{__version__} says.
        """
        try:
            installed = installedVersion("twistar")
        except PackageNotFoundError:
            raise SkipTest("twistar is imported from a directory on sys.path, not installed")
        self.assertEqual(installed, twistar.__version__)


class NoSystemInstallTests(SynchronousTestCase):
    """
    Installing or testing twistar never installs system packages: the
    throwaway database servers' set-up, which may, lives in the checkout's
    C{scripts/}.
    """

    def test_installCommandFound(self) -> None:
        """
        The pattern finds a package manager's install command as code runs it.
        """
        self.assertTrue(_INSTALL_COMMAND.search('["apt-get", "install", "-y", "postgresql"]'))
        self.assertTrue(_INSTALL_COMMAND.search("os.system('apt install mariadb-server')"))
        self.assertFalse(_INSTALL_COMMAND.search("pip install 'twistar[test]'"))

    def test_noModuleInstallsSystemPackages(self) -> None:
        """
        No module of the package runs a system package manager's install.
        """
        package = Path(twistar.__file__).resolve().parent
        this = Path(__file__).resolve()
        offenders = [
            str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
            if path.resolve() != this and _INSTALL_COMMAND.search(path.read_text("utf-8"))
        ]
        self.assertEqual(offenders, [])
