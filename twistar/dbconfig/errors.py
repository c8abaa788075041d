# -*- test-case-name: twistar.tests.test_exceptions -*-
"""
L{ErrorTranslation}: turning driver exceptions into L{twistar.exceptions}.

This is the one place that does it. The original exception is kept as the
C{__cause__}, and the translation is also of the driver's exception class
where they combine, so code that catches the driver's exceptions still
catches it. A database sets L{Dialect.errorClasses} and overrides
L{ErrorTranslation.errorCode}, L{ErrorTranslation.isMissingTable} and the
like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from twisted.enterprise import adbapi

from twistar import exceptions
from twistar.dbconfig.dialect import Dialect
from twistar.dbconfig.sqltext import safeText
from twistar.exceptions import ConnectionLostError, ImaginaryTableError, TwistarError

_INT64 = range(-(2**63), 2**63)


class ErrorTranslation(Dialect):
    """
    L{Dialect}, with the translation of the driver's exceptions.
    """

    def isConnectionLost(self, error: BaseException, connection: Any) -> bool:
        """
        @return: whether C{error} means the connection is dead.
        """
        return isinstance(error, (adbapi.ConnectionLost, ConnectionLostError))

    def translateError(self, error: BaseException) -> BaseException:
        """
        @return: the twistar exception for a driver exception (the caller
            chains the original as C{__cause__}); other exceptions unchanged.
        """
        if isinstance(error, TwistarError) or not isinstance(error, Exception):
            return error
        dbapi = getattr(self.registry.poolOf(self.database), "dbapi", None)
        if dbapi is None or not isinstance(error, getattr(dbapi, "Error", ())):
            return error
        twistarClass: type[TwistarError] = exceptions.DatabaseError
        coded = self.errorClasses.get(self.errorCode(error))
        if coded is not None:
            twistarClass = coded
        elif self.isMissingTable(error):
            twistarClass = ImaginaryTableError
        elif self.isProgrammingError(error):
            twistarClass = exceptions.ProgrammingError
        else:
            for name, candidate in (
                ("IntegrityError", exceptions.IntegrityError),
                ("ProgrammingError", exceptions.ProgrammingError),
                ("InterfaceError", ConnectionLostError),
                ("OperationalError", exceptions.OperationalError),
            ):
                if isinstance(error, getattr(dbapi, name, ())):
                    twistarClass = candidate
                    break
        try:
            translated = _driverCompatible(twistarClass, type(error))(*error.args)
        except Exception:
            return twistarClass(safeText(error))
        # Attributes the driver set on its exception (sqlite3's sqlite_errorcode).
        translated.__dict__.update(vars(error))
        return translated

    def raiseTranslated(
        self, error: BaseException, translate: bool = True, lost: bool = False,
        committing: bool = False,
    ) -> NoReturn:
        """
        Raise the twistar exception for C{error}, chained to it; or C{error}
        itself when it is not a driver exception or not C{translate}.

        @param lost: the connection died: raise L{ConnectionLostError}.
        @param committing: C{error} happened while committing.
        """
        if not translate:
            raise error
        if lost:
            raise self._connectionLost(
                "the database connection was lost while committing; the commit may "
                "or may not have been applied" if committing else
                "the database connection was lost; nothing was committed",
                error,
            ) from error
        translated = self.translateError(error)
        if translated is error:
            raise error
        raise translated from error

    def errorCode(self, error: BaseException) -> Any:
        """
        @return: the database's code for a driver error (its key in
            C{errorClasses}), or C{None}.
        """
        return None

    def isMissingTable(self, error: BaseException) -> bool:
        """
        @return: whether a driver error says a table does not exist.
        """
        return False

    def isProgrammingError(self, error: BaseException) -> bool:
        """
        @return: whether a driver error of a class other than
            C{ProgrammingError} says the SQL itself is wrong (syntax error,
            unknown column).
        """
        return False

    def refusedValues(self, error: Exception, args: Sequence[Any]) -> list[Any]:
        """
        @return: the values among C{args} that the driver could not encode,
            making it raise C{error} before the statement ran; empty when
            C{error} is about something else.
        """
        if isinstance(error, UnicodeEncodeError):
            return [a for a in args if isinstance(a, str) and _unencodable(a)]
        if isinstance(error, OverflowError):
            return [a for a in args if type(a) is int and a not in _INT64]
        return []

    def _connectionLost(self, message: str, cause: BaseException) -> TwistarError:
        """
        @return: a L{ConnectionLostError}, also of the class of C{cause} when that
            is a driver exception.
        """
        dbapi = getattr(self.registry.poolOf(self.database), "dbapi", None)
        if isinstance(cause, getattr(dbapi, "Error", ())):
            try:
                return _driverCompatible(ConnectionLostError, type(cause))(message)
            except Exception:
                pass
        return ConnectionLostError(message)


_COMPATIBLE: dict[tuple[type, type], type[TwistarError]] = {}


def _driverCompatible(twistarClass: type[TwistarError], driverClass: type) -> type[TwistarError]:
    """
    @return: a subclass of both C{twistarClass} and the driver's exception
        class, so code that catches the driver's exceptions still catches
        twistar's translation, named like C{twistarClass} (as tracebacks
        show it); C{twistarClass} if they cannot be combined.
    """
    key = (twistarClass, driverClass)
    if key not in _COMPATIBLE:
        namespace: dict[str, Any] = {"__module__": twistarClass.__module__}
        for klass in driverClass.__mro__:
            if klass in BaseException.__mro__:
                continue
            for name, value in vars(klass).items():
                if not name.startswith("__") and hasattr(type(value), "__set__"):
                    namespace.setdefault(name, _readFromCause(name))
        try:
            _COMPATIBLE[key] = type(
                twistarClass.__name__, (twistarClass, driverClass), namespace
            )
        except TypeError:
            _COMPATIBLE[key] = twistarClass
    return _COMPATIBLE[key]


def _readFromCause(name: str) -> property:
    """
    @return: a property that reads attribute C{name} (one the driver's
        exception class computes, such as psycopg2's C{pgcode} or C{diag})
        from the original exception, the C{__cause__}.
    """
    return property(lambda self: getattr(self.__cause__, name, None))


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False
