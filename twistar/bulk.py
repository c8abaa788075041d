# -*- test-case-name: twistar.tests.test_upsert,twistar.tests.test_updatemany -*-
"""
L{BulkWrites}: the class methods of models that write many objects at once
(C{createMany}, C{updateMany}, C{upsert}, C{insertOrIgnore}), with the steps
they share: checking the objects, validating them, running their hooks, a
few milliseconds at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import Deferred, succeed

from twistar.dbconfig.objects import timestampColumns
from twistar.dbconfig.sqltext import safeRepr
from twistar.dbconfig.writes import upsertKeys
from twistar.exceptions import DBObjectSaveError, InvalidQueryError, ValidationError
from twistar.registry import Registry
from twistar.replicas import DEFAULT_DATABASE, currentRoute, routedTo
from twistar.slicing import inSlices
from twistar.validation import Uniqueness, Validator, runValidators

T = TypeVar("T", bound="BulkWrites")

CREATE_HOOKS = ("beforeCreate", "beforeSave")
"""The hooks run before an object is inserted, in order."""
UPDATE_HOOKS = ("beforeUpdate", "beforeSave")
"""The hooks run before an object's row is updated, in order."""


class BulkWrites(Validator):
    """
    The bulk-writing class methods of L{twistar.dbobject.DBObject}.
    """

    if TYPE_CHECKING:
        # What the model class (DBObject) gives them.
        TIMESTAMPS: Any
        _deleted: bool

        @classmethod
        def tablename(cls) -> str: ...

        def _isNew(self) -> bool: ...

        def _runHooks(self, names: Iterable[str]) -> Any: ...

        def _afterWrite(self) -> None: ...

        @staticmethod
        def _beforeWriteOfMany(objects: list[Any], pool: Any) -> Deferred[Any]: ...

    @classmethod
    def createMany(cls: type[T], objects: Iterable[T]) -> Deferred[list[T]]:
        """
        Save many new objects of this class: validate them all, run their
        C{beforeCreate} and C{beforeSave} hooks, then insert them in a few
        multi-row statements and set their ids. The work on the objects is
        done a few milliseconds at a time, so the reactor keeps turning.

        @return: a L{Deferred} of the objects inserted (those whose hooks did
            not cancel). It fails with L{ValidationError} (saving nothing)
            if any object is invalid. Cancelling it while it validates or
            runs the hooks stops it there, inserting nothing.
        @raise DBObjectSaveError: if an object is not new or not of this
            class, or is given twice.
        """
        # Once the rows are written, every object's after-write step runs
        # (in slices, with the ids), whatever the caller does.
        return cls._writeMany(
            "createMany", "new ", lambda obj: obj._isNew(), objects, True,
            lambda config, chosen: config.insertObjs(chosen, cls._afterWrite),
        )

    @classmethod
    def updateMany(cls: type[T], objects: Iterable[T]) -> Deferred[list[T]]:
        """
        Save many loaded objects of this class: validate them all, run their
        C{beforeUpdate} and C{beforeSave} hooks, then write each one's
        changed columns in one transaction, one C{UPDATE} per set of changed
        columns (and batch), nothing for objects without changes. Their
        saved state is recorded as C{save()} records it.

        @return: a L{Deferred} of the objects saved (those whose hooks did
            not cancel). It fails with L{ValidationError} (saving nothing)
            if any object is invalid, and with L{StaleObjectError} (with a
            C{LOCK_VERSION}; saving nothing) when an object's row is no
            longer at its version.
        @raise DBObjectSaveError: if an object is new, deleted or not of
            this class, or is given twice.
        """
        return cls._writeMany(
            "updateMany", "loaded ", lambda obj: not obj._isNew(), objects, True,
            lambda config, chosen: config.updateObjs(chosen, cls._afterWrite),
        )

    @classmethod
    def _writeMany(
        cls: type[T], method: str, kind: str, fits: Callable[[T], bool], objects: Iterable[T],
        uniqueness: bool, write: Callable[[Any, list[T]], Deferred[Any]],
    ) -> Deferred[list[T]]:
        """
        The steps of a bulk write: check the objects, validate them and run
        their hooks (see L{_validatedAndHooked}), let a retried transaction
        remember them, then C{write(config, chosen)}.

        @param kind: what C{fits} objects are, for the message.
        @return: a L{Deferred} of the objects written.
        @raise DBObjectSaveError: for an object that does not fit, is not of
            this class or is deleted, or is given twice; for objects loaded
            from (or saved to) different databases, unless C{Model.using}
            names one.
        """
        objects = list(objects)
        for obj in objects:
            if type(obj) is not cls or obj._deleted or not fits(obj):
                raise DBObjectSaveError(f"{method} needs {kind}{cls.__name__} objects, not {obj!r}")
        if len(set(map(id, objects))) != len(objects):
            raise DBObjectSaveError(f"{method} was given the same object more than once")

        route = currentRoute()
        chosenDatabase = route is not None and route.database is not None
        owner = None
        if not chosenDatabase and objects:
            # Written to the database they were loaded from or saved to.
            if len({obj.__dict__.get("_database") for obj in objects}) > 1:
                raise DBObjectSaveError(f"{method} was given objects of different databases")
            owner = objects[0]

        def written(chosen: list[T]) -> Deferred[list[T]]:
            with routedTo(route):
                config = Registry.configFor(cls, owner)
            d = cls._rememberDatabase(chosen, config.database, chosenDatabase)
            d.addCallback(lambda _: cls._beforeWriteOfMany(chosen, config.pool))
            d.addCallback(lambda _: write(config, chosen))
            return d.addCallback(lambda _: chosen)

        return cls._validatedAndHooked(objects, uniqueness).addCallback(written)

    @classmethod
    def _rememberDatabase(
        cls, objects: list[Any], database: str, chosen: bool
    ) -> Deferred[Any]:
        """
        Have C{objects}, about to be written to C{database}, remember it
        when it is not the model's own, a few milliseconds at a time; when it was
        C{chosen} through C{Model.using(name)}, they forget any other.

        @return: a L{Deferred} that fires when done.
        """
        own = database == (getattr(cls, "DATABASE", None) or DEFAULT_DATABASE)
        if own and not chosen:
            return succeed(None)

        def remember(obj: Any) -> None:
            if own:
                obj.__dict__.pop("_database", None)
            else:
                obj.__dict__["_database"] = database

        return inSlices(remember, objects, cancellable=False)

    @classmethod
    def _validatedAndHooked(cls: type[T], objects: list[T], uniqueness: bool) -> Deferred[list[T]]:
        """
        Validate C{objects}, then run on each the hooks C{save()} would
        (C{beforeCreate} or C{beforeUpdate}, then C{beforeSave}).

        @param uniqueness: run the C{validatesUniquenessOf} validators, which
            also refuse an object repeating an earlier one's value.
        @return: a L{Deferred} of the objects whose hooks did not cancel; it
            fails with L{ValidationError} if any object is invalid.
        """
        # Each step over the objects runs in slices (see inSlices), so that
        # the reactor keeps turning however many there are.
        validators = cls._allValidators()
        if not uniqueness:
            validators = [v for v in validators if not isinstance(v, Uniqueness)]
        validateOne: Callable[[T], Any]
        if cls.validate is not Validator.validate:
            validateOne = cls.validate
        elif validators:

            def validateOne(obj: T) -> Any:
                obj.__dict__.pop("errors", None)
                return runValidators(obj, validators)

        else:
            validateOne = forgetErrors

        def checkValid(_: Any) -> Deferred[None]:
            finders = [v.repeatFinder() for v in validators if isinstance(v, Uniqueness)]
            invalid: list[T] = []

            def check(obj: T) -> None:
                for find in finders:
                    find(obj)
                if obj.__dict__.get("errors"):
                    invalid.append(obj)

            def raiseIfInvalid(_: Any) -> None:
                if invalid:
                    raise ValidationError(
                        f"{len(invalid)} of {len(objects)} objects are invalid; "
                        f"nothing was saved",
                        invalid,
                    )

            return inSlices(check, objects).addCallback(raiseIfInvalid)

        def runHooks(_: Any) -> Deferred[list[Any]]:
            return inSlices(runSaveHooks, objects)

        def chosen(proceed: list[bool]) -> list[T]:
            return [obj for obj, go in zip(objects, proceed) if go]

        d = inSlices(validateOne, objects)
        if validators or validateOne is not forgetErrors:
            d.addCallback(checkValid)
        return d.addCallback(runHooks).addCallback(chosen)

    @classmethod
    def upsert(
        cls: type[T], rows: Iterable[Any], uniqueBy: str | Sequence[str],
        update: str | Sequence[str] | None = None,
    ) -> Deferred[Any]:
        """
        Insert rows, or where a row's C{uniqueBy} columns (those of a unique
        key of the table) hold an existing row's values, overwrite that
        row's C{update} columns instead: every column written but the key's
        when C{None}; none (C{()}) leaves the existing row alone. One
        statement per batch of rows, in one transaction.

        C{rows} are objects of this class or dicts of column values, not
        both. Objects are validated (but for C{validatesUniquenessOf}: the
        key decides) and get the hooks C{save()} would run (C{beforeCreate}
        for new objects, C{beforeUpdate} for loaded ones, then
        C{beforeSave}); each gets the id of its row, and its key and the
        columns the upsert wrote are recorded as saved. Dicts get neither.

        @return: a L{Deferred} of the objects upserted (those whose hooks did
            not cancel), or of C{None} for dicts. It fails with
            L{ValidationError} (writing nothing) if an object is invalid,
            with L{UnknownColumnError} for a name that is no column, and
            with L{InvalidQueryError} for a row without a key value or two
            rows with the same key, before anything is written.
        @raise InvalidQueryError: for an empty C{uniqueBy}, a bad name,
            C{update} naming a key column, or objects and dicts mixed.
        @raise DBObjectSaveError: for an object of another class, deleted,
            or given twice.
        """
        keys, updated = upsertKeys(uniqueBy, update)
        if isinstance(rows, (Mapping, str, bytes)):
            raise InvalidQueryError(f"upsert takes a list of rows, not {safeRepr(rows):.80}")
        rows = list(rows)
        dicts = [isinstance(row, Mapping) for row in rows]
        if any(dicts):
            if not all(dicts):
                raise InvalidQueryError("upsert takes objects or dicts, not both")
            return Registry.configFor(cls).upsertMany(
                cls.tablename(), rows, keys, updated, timestampColumns(cls.TIMESTAMPS)
            )
        return cls._writeMany(
            "upsert", "", lambda obj: True, rows, False,
            lambda config, chosen: config.upsertObjs(chosen, keys, updated, cls._afterWrite),
        )

    @classmethod
    def insertOrIgnore(cls, rows: Iterable[Any], uniqueBy: str | Sequence[str]) -> Deferred[Any]:
        """
        L{upsert} that leaves existing rows alone: C{upsert(rows, uniqueBy,
        update=())}.
        """
        return cls.upsert(rows, uniqueBy, ())


def forgetErrors(obj: Any) -> None:
    """
    Clear C{obj}'s errors, as validating it without validators does (a
    fresh L{Errors} is made only if they are read).
    """
    obj.__dict__.pop("errors", None)


def runSaveHooks(obj: Any) -> Any:
    """
    Run the hooks C{save()} runs on C{obj} before its write (see
    L{CREATE_HOOKS}, L{UPDATE_HOOKS}).

    @return: whether to go on: a bool, or a L{Deferred} of one.
    """
    return obj._runHooks(CREATE_HOOKS if obj._isNew() else UPDATE_HOOKS)
