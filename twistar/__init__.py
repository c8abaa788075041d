"""
twistar: an active-record ORM for Twisted.

Every database call returns a L{twisted.internet.defer.Deferred} and runs on
C{twisted.enterprise.adbapi}'s connection pool, L{twistar.registry.Registry.DBPOOL}.
L{connect} makes that pool from a database URL.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twistar.connection import connect as connect

__version__ = "3.0.0"
"""twistar's version, as on PyPI."""

version = __version__
"""The same as L{__version__}."""

version_info = tuple(int(part) for part in __version__.split("."))
"""L{__version__} as a tuple of integers, such as C{(3, 0, 0)}."""


def __getattr__(name: str) -> Any:
    # twistar.connect, imported when first used: importing twistar stays
    # cheap, and imports no driver.
    if name == "connect":
        from twistar.connection import connect

        return connect
    raise AttributeError(f"module 'twistar' has no attribute {name!r}")
