# -*- test-case-name: twistar.tests.test_exceptions -*-
"""
Every exception twistar raises derives from L{TwistarError}.

Errors found before any SQL is sent derive from L{InvalidQueryError} (and from
C{ValueError} or C{TypeError}); errors reported by the database driver are
translated into L{DatabaseError} subclasses, with the driver's exception kept
as C{__cause__}.
"""

from typing import Any


class TwistarError(Exception):
    """
    Base class of every twistar exception.
    """


class TransactionError(TwistarError):
    """
    A transaction failed and was rolled back; C{__cause__} is the reason.
    """


class TransactionTimeoutError(TransactionError):
    """
    A transaction did not finish within its timeout and was rolled back.
    """


class ClassNotRegisteredError(TwistarError):
    """
    A class name was looked up in the L{Registry} but never registered.
    """


class ReferenceNotSavedError(TwistarError):
    """
    A relationship was used on (or given) an object that has not been saved.
    """


class CannotRefreshError(TwistarError):
    """
    An object could not be refreshed because its row does not exist.
    """


class InvalidRelationshipError(TwistarError):
    """
    A relationship declaration is malformed.
    """


class DBObjectSaveError(TwistarError):
    """
    An object could not be saved (for instance, it was deleted).
    """


class StaleObjectError(DBObjectSaveError):
    """
    An object of a model with C{LOCK_VERSION} was not saved or deleted:
    its row was changed (its version is no longer the object's) or deleted
    since the object was loaded. Nothing was written; the object keeps its
    changes and its version.

    @ivar obj: the object.
    """

    def __init__(self, message: str, obj: Any) -> None:
        super().__init__(message)
        self.obj = obj


class ValidationError(TwistarError):
    """
    Objects given to C{createMany} failed validation; nothing was saved.

    @ivar objects: the invalid objects (their C{errors} say why).
    """

    def __init__(self, message: str, objects: list[Any]) -> None:
        super().__init__(message)
        self.objects = objects


class InvalidQueryError(TwistarError, ValueError):
    """
    Arguments that cannot make a valid query; raised before any SQL is sent.
    """


class InvalidIdentifierError(InvalidQueryError):
    """
    A table or column name is not a plain SQL identifier.
    """


class UnknownColumnError(InvalidQueryError):
    """
    A name given as a column is not a column of the table.
    """


class PlaceholderCountError(InvalidQueryError):
    """
    The number of C{?} placeholders differs from the number of arguments.
    """


class UnsupportedValueError(InvalidQueryError, TypeError):
    """
    A value of a type the database driver cannot store.
    """


class DatabaseError(TwistarError):
    """
    An error reported by the database driver; C{__cause__} is the original.
    """


class IntegrityError(DatabaseError):
    """
    A constraint (unique, foreign key, not null, check) was violated.
    """


class ProgrammingError(DatabaseError):
    """
    The database rejected the SQL (syntax error, unknown column, ...).
    """


class ImaginaryTableError(ProgrammingError):
    """
    A table does not exist.
    """


class OperationalError(DatabaseError):
    """
    The database could not carry out the operation (locks, resources, ...).
    """


class ConnectionLostError(OperationalError):
    """
    The connection to the database server failed or was lost.
    """


class ConcurrencyError(OperationalError):
    """
    A statement failed because of a transaction running at the same time;
    the work it was part of is rolled back, and running that whole
    transaction again may succeed.
    """


class DeadlockError(ConcurrencyError):
    """
    The database broke a deadlock by failing this transaction: PostgreSQL
    C{40P01}, MySQL/MariaDB 1213 (also a Galera certification failure).
    """


class SerializationError(ConcurrencyError):
    """
    The transaction read data that another transaction has since changed,
    so it cannot be serialized: PostgreSQL C{40001} (at C{REPEATABLE READ}
    or C{SERIALIZABLE}, also at C{COMMIT}), MariaDB 1020 (with
    C{innodb_snapshot_isolation}), SQLite C{SQLITE_BUSY_SNAPSHOT}.
    """


class LockTimeoutError(ConcurrencyError):
    """
    A lock held by another transaction was not released in time:
    PostgreSQL C{55P03} (C{lock_timeout}, C{NOWAIT}), MySQL/MariaDB 1205
    (C{innodb_lock_wait_timeout}, C{NOWAIT}), SQLite C{SQLITE_BUSY} (once
    the connection's C{timeout} ran out) and C{SQLITE_LOCKED}.
    """


class InvalidURLError(TwistarError, ValueError):
    """
    A database URL given to L{twistar.connect} cannot be used: it is
    malformed, of an unknown scheme, or has an option of the wrong kind.
    """


class MissingDriverError(TwistarError, ImportError):
    """
    The DB-API driver a database URL needs cannot be imported; the message
    names the extra to install (such as C{pip install 'twistar[postgres]'}).
    """


class PoolExhaustedError(TwistarError):
    """
    No connection of the pool became free within its wait limit; the work
    never ran.
    """


class NPlusOneError(TwistarError):
    """
    Inside L{twistar.testing.strictNPlusOne}: a relationship was read one
    object at a time for objects loaded together, where eager loading
    (C{include=}, C{includes}, C{preload}) would read it for all of them in
    one query.
    """
