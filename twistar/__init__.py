"""
twistar: an active-record ORM for Twisted.

Every database call returns a L{twisted.internet.defer.Deferred} and runs on
C{twisted.enterprise.adbapi}'s connection pool, L{twistar.registry.Registry.DBPOOL}.
"""

__version__ = "3.0.0"
"""twistar's version, as on PyPI."""

version = __version__
"""The same as L{__version__}."""

version_info = tuple(int(part) for part in __version__.split("."))
"""L{__version__} as a tuple of integers, such as C{(3, 0, 0)}."""
