"""
twistar: an active-record ORM for Twisted.

Every database call returns a L{twisted.internet.defer.Deferred} and runs on
C{twisted.enterprise.adbapi}'s connection pool, L{twistar.registry.Registry.DBPOOL}.
"""

version = "3.0.0"
version_info = tuple(int(part) for part in version.split("."))
