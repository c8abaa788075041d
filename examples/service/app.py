#!/usr/bin/env python3
"""
The bookshop example service: a JSON API of authors, books, reviews and
tags, on twisted.web and twistar.

    pip install 'twistar[migrations]'
    python examples/service/app.py --port 8080
    curl -d '{"name": "Ursula K. Le Guin"}' http://127.0.0.1:8080/authors

It connects to the database of C{--database}, else of the environment
variable C{DATABASE_URL}, else the SQLite file C{bookshop.db} in the current
directory; applies the migrations of C{examples/service/migrations} that
the database has not had yet; and serves the API (L{bookshop.api}).
"""

import argparse
import os
import sys

from twisted.internet import defer, task
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

import twistar
from twistar.migrations import applyMigrations

from bookshop.api import makeSite

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
DEFAULT_DATABASE = "sqlite:///bookshop.db"

log = Logger()


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        description="The bookshop example service: a JSON API of authors, books, reviews"
                    " and tags.")
    parser.add_argument("--port", type=int, default=8080,
                        help="the TCP port to listen on (0: any free one; default: 8080)")
    parser.add_argument("--interface", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE,
                        help="the database URL (default: $DATABASE_URL, else "
                             + DEFAULT_DATABASE + ")")
    return parser.parse_args(argv)


async def main(reactor, *argv):
    """
    Migrate the database, connect to it and serve the API until stopped.
    """
    options = parseArguments(argv)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    applied = await applyMigrations(MIGRATIONS, options.database)
    log.info("migrations applied: {applied}", applied=", ".join(applied) or "none")
    twistar.connect(options.database)  # Registry.DBPOOL, which the models use
    port = reactor.listenTCP(options.port, makeSite(), interface=options.interface)
    address = port.getHost()
    log.info("serving http://{host}:{port}/", host=address.host, port=address.port)
    await defer.Deferred()  # until the process is stopped (Ctrl-C)


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))
