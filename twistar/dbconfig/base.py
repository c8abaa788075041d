# -*- test-case-name: twistar.tests.test_dbconfig,twistar.tests.test_sql -*-
"""
L{InteractionBase}: the SQL layer, and its low-level CRUD API.

The layer is one class built in steps, each in a module of its own on the
one before:

  1. L{twistar.dbconfig.dialect}: a database's SQL: the data a database
     subclass sets (paramstyle, identifier quote, capabilities), and the
     statements built from it.
  2. L{twistar.dbconfig.errors}: driver exceptions translated into
     L{twistar.exceptions}.
  3. Running statements, in three steps: L{twistar.dbconfig.statements}
     on a cursor, reading results too; L{twistar.dbconfig.green} in
     greenlets, on a C{PostgresPool}; L{twistar.dbconfig.runner} on the
     database's pools (in an interaction of its own or in the running
     transaction; reads on a replica).
  4. L{twistar.dbconfig.batches}: inserting rows, many per statement.
  5. L{twistar.dbconfig.objects}: the rows of model objects.
  6. Here: selecting, inserting, updating, deleting and counting rows as
     dicts; and, from L{twistar.dbconfig.introspection} (a step of its own
     on L{twistar.dbconfig.runner}'s), reading the database's tables,
     columns and keys.

A database is a small subclass of L{InteractionBase}
(L{twistar.dbconfig.sqlite}, L{twistar.dbconfig.postgres},
L{twistar.dbconfig.mysql}). The SQL layer sits below
L{twistar.registry}: it finds the pool through
C{InteractionBase.registry}, which that module sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred

from twistar.dbconfig.introspection import Introspection
from twistar.dbconfig.objects import ObjectRows
from twistar.dbconfig.sqltext import Limit, Where, safeText
from twistar.exceptions import InvalidQueryError


class InteractionBase(ObjectRows, Introspection):
    """
    The SQL layer shared by every database; subclasses set the dialect data.

    Methods that take a C{txn} run synchronously on it (inside
    C{runInteraction}); the others return a L{Deferred}.
    """

    # -- the low-level CRUD API ---------------------------------------------

    def select(
        self,
        tablename: str,
        id: Any = None,
        where: Where | None = None,
        group: str | None = None,
        limit: Limit = None,
        orderby: str | None = None,
        select: str | None = None,
    ) -> Deferred[Any]:
        """
        Select rows as dicts keyed by column name.

        @return: a L{Deferred} of one dict (or C{None}) when C{id} is given or
            C{limit} is 1, otherwise of a list of dicts.
        """
        one = id is not None or limit == 1
        query, args = self.buildSelect(tablename, id, where, group, limit, orderby, select)
        return self.runRead(self._doselect, query, args, tablename, one)

    def insert(self, tablename: str, vals: dict[str, Any], txn: Any = None) -> Any:
        """
        Insert one row.

        @return: the new row's id (C{None} for a table without an C{id}
            column): itself when given a C{txn}, otherwise a L{Deferred}.
        """
        _requireMapping("insert", vals)
        columns = list(vals)
        values = list(vals.values())
        self.escapeColNames(columns)
        self.checkValues(values, columns)
        if txn is None:
            return self.runWork(
                lambda cursor: self.insert(tablename, vals, cursor), oneStatement=True
            )
        returnId = "id" in self.getSchema(tablename, txn)
        return self.insertRow(txn, tablename, columns, values, returnId)

    def update(
        self,
        tablename: str,
        args: dict[str, Any],
        where: Where | None = None,
        txn: Any = None,
        limit: int | None = None,
    ) -> Any:
        """
        Update the rows matching C{where} (all rows when C{None}).

        @return: the number of rows changed: itself when given a C{txn},
            otherwise a L{Deferred}.
        """
        _requireMapping("update", args)
        if not args:
            raise InvalidQueryError("update needs at least one column to set")
        columns = list(args)
        values = list(args.values())
        self.checkValues(values, columns)
        query, whereArgs = self.buildUpdate(tablename, columns, where, limit)
        if txn is None:
            return self.runInteraction(self.runAndCount, query, values + whereArgs)
        return self.runAndCount(txn, query, values + whereArgs)

    def runAndCount(self, txn: Any, query: str, args: Sequence[Any]) -> int:
        """
        Run a write on C{txn}.

        @return: the number of rows it changed.
        """
        self.run(txn, query, args)
        return int(txn.rowcount)

    def delete(self, tablename: str, where: Where | None = None) -> Deferred[int]:
        """
        Delete the rows matching C{where} (all rows when C{None}).

        @return: a L{Deferred} of the number of rows deleted.
        """
        query, args = self.buildDelete(tablename, where)
        return self.runInteraction(self.runAndCount, query, args)

    def count(self, tablename: str, where: Where | None = None) -> Deferred[int]:
        """
        @return: a L{Deferred} of the number of rows matching C{where}.
        """
        query, args = self.buildSelect(tablename, where=where, select="COUNT(*)")
        return self.runRead(self._fetchScalar, query, args)

    def _fetchScalar(self, txn: Any, query: str, args: Sequence[Any]) -> int:
        self.run(txn, query, args)
        return int(txn.fetchone()[0])

    def emptyTables(self, txn: Any, tablenames: Sequence[str]) -> None:
        """
        Delete every row of the tables C{tablenames}, whatever foreign keys
        link them (as L{twistar.testing} does between tests).
        """
        for name in tablenames:
            self.run(txn, f"DELETE FROM {self.quoteIdentifier(name)}", [])

    def scratchStatements(self, name: str, pooled: bool = False) -> tuple[str, str]:
        """
        @param pooled: whether the server is reached through a transaction
            pooler (the URL's C{transaction_pooling}).
        @return: the statements that create and drop a throwaway database
            (or schema) called C{name} on the server, for tests; each runs
            on its own, outside a transaction.
        @raise NotImplementedError: for SQLite, whose throwaway databases
            are files.
        """
        raise NotImplementedError(f"{type(self).__name__} has no throwaway databases")

    def scratchURL(self, url: str, name: str, pooled: bool = False) -> str:
        """
        @return: the URL of the throwaway database (or schema) C{name} made
            by L{scratchStatements} (with the same C{pooled}) on the server
            of C{url}.
        @raise NotImplementedError: for SQLite.
        """
        raise NotImplementedError(f"{type(self).__name__} has no throwaway databases")


def _requireMapping(method: str, values: Any) -> None:
    """
    @raise InvalidQueryError: unless C{values} is a dict of column values.
    """
    if not isinstance(values, Mapping):
        raise InvalidQueryError(
            f"{method} takes a dict of column values, not {safeText(values):.80}"
        )
