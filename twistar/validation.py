# -*- test-case-name: twistar.tests.test_validation -*-
"""
Validation: per-class validators and the L{Errors} they fill.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from inflection import titleize
from twisted.internet.defer import Deferred, fail, succeed

from twistar.dbconfig.builder import Column, Equals, Not, Select, Term, keyEquals
from twistar.dbconfig.sqltext import checkIdentifier
from twistar.query import Query
from twistar.utils import checkKeywords, deferredOf, gather

ValidatorFunc = Callable[[Any], Any]
"""A validator: called with an object, it adds to C{obj.errors}; it may
return a L{Deferred} or be C{async def}."""


class Errors(dict[str, list[str]]):
    """
    Validation errors: a dict of property name to its list of messages.
    C{len(errors)} is the number of messages.
    """

    def add(self, prop: str, message: str) -> None:
        """
        Record C{message} for C{prop}, prefixed by the humanised property name
        (C{"First Name cannot be blank."}); a repeated message is kept once.
        """
        text = f"{titleize(prop)} {message}"
        messages = self.setdefault(prop, [])
        if text not in messages:
            messages.append(text)

    def isEmpty(self) -> bool:
        """
        @return: whether there are no errors.
        """
        return len(self) == 0

    def errorsFor(self, prop: str) -> list[str]:
        """
        @return: the messages for C{prop} (an empty list when none).
        """
        return self.get(prop, [])

    def __len__(self) -> int:
        return sum(len(messages) for messages in self.values())

    def __bool__(self) -> bool:
        return len(self) > 0

    def __str__(self) -> str:
        return " ".join(message for messages in self.values() for message in messages)


def presenceOf(obj: Any, names: Iterable[str], kwargs: dict[str, Any]) -> None:
    """
    Add an error for each of C{names} whose value is C{None} or empty.
    """
    message = kwargs.get("message", "cannot be blank.")
    for name in names:
        value = getattr(obj, name, None)
        if value is None or (isinstance(value, (str, bytes, bytearray)) and not value):
            obj.errors.add(name, message)


def lengthOf(obj: Any, names: Iterable[str], kwargs: dict[str, Any]) -> None:
    """
    Add an error for each of C{names} whose length is not C{kwargs["length"]}
    or not in C{kwargs["range"]}.
    """
    for name in names:
        value = getattr(obj, name, None)
        # Like Rails: a value without a length is measured as text.
        size = None if value is None else len(value if hasattr(value, "__len__") else str(value))
        if "range" in kwargs:
            allowed = kwargs["range"]
            if size is None or size not in allowed:
                default = f"must have a length between {min(allowed)} and {max(allowed)}."
                obj.errors.add(name, kwargs.get("message", default))
        if "length" in kwargs and size != kwargs["length"]:
            obj.errors.add(name, kwargs.get("message", f"must have length {kwargs['length']}."))


class Uniqueness:
    """
    The validator of L{Validator.validatesUniquenessOf}: no other row may
    have the same value for each of C{names} (the object's own row is
    ignored; C{None} is never a clash).
    """

    def __init__(self, names: tuple[str, ...], message: str) -> None:
        self.names = names
        self.message = message

    def __call__(self, obj: Any) -> Deferred[None]:
        checks = []
        table = obj.tablename()
        for name in self.names:
            value = getattr(obj, name, None)
            if value is None:
                continue
            where: tuple[Term, ...] = (Equals(Column(name), value),)
            if not obj._isNew() and obj._storedKey() is not None:
                where += (Not(keyEquals(obj._keyColumns, obj._storedKey())),)
            checks.append((name, Query(type(obj), Select(table, where=where)).exists()))

        def record(taken: list[bool]) -> None:
            for (name, _), clash in zip(checks, taken):
                if clash:
                    obj.errors.add(name, self.message)

        return gather(d for _, d in checks).addCallback(record)

    def repeatFinder(self) -> Callable[[Any], None]:
        """
        @return: a function to call on each of some new objects saved
            together, in order: it adds an error to an object that repeats
            the value of an earlier one, as Python compares them.
        """
        seen: dict[str, tuple[set[Any], list[Any]]] = {
            name: (set(), []) for name in self.names
        }

        def find(obj: Any) -> None:
            for name, (hashable, unhashable) in seen.items():
                value = getattr(obj, name, None)
                if value is None:
                    continue
                try:
                    repeated = value in hashable
                    hashable.add(value)
                except TypeError:
                    repeated = value in unhashable
                    unhashable.append(value)
                if repeated:
                    obj.errors.add(name, self.message)

        return find


# How many times validators were added or cleared, anywhere.
_changes = [0]


class Validator:
    """
    The validation class methods of L{DBObject}. Validators belong to the
    class they are declared on (and its subclasses), never to its siblings.
    """

    errors: Errors
    """The errors of the last validation (see L{Errors})."""

    @classmethod
    def _ownValidators(cls) -> list[ValidatorFunc]:
        if "_validators" not in cls.__dict__:
            cls._validators = []  # type: ignore[attr-defined]
        return cls.__dict__["_validators"]  # type: ignore[no-any-return]

    @classmethod
    def _allValidators(cls) -> list[ValidatorFunc]:
        """
        @return: the validators of this class and its bases, remembered until
            any class's validators change.
        """
        cached = cls.__dict__.get("_validatorCache")
        if cached is not None and cached[0] == _changes[0]:
            return cached[1]  # type: ignore[no-any-return]
        validators = [
            func
            for klass in reversed(cls.__mro__)
            for func in klass.__dict__.get("_validators", ())
        ]
        cls._validatorCache = (_changes[0], validators)  # type: ignore[attr-defined]
        return validators

    @classmethod
    def addValidator(cls, func: ValidatorFunc) -> None:
        """
        Add C{func(obj)}, which adds to C{obj.errors} and may return a
        L{Deferred}, to this class's validators.
        """
        if not callable(func):
            raise TypeError(f"a validator must be callable, not {func!r}")
        cls._ownValidators().append(func)
        _changes[0] += 1

    @classmethod
    def validatesPresenceOf(cls, *names: str, **kwargs: Any) -> None:
        """
        Require the attributes C{names} to be neither C{None} nor empty.
        C{message=} replaces "cannot be blank.".
        """
        _checkNames(names)
        checkKeywords("validatesPresenceOf", kwargs, {"message"})
        cls.addValidator(lambda obj: presenceOf(obj, names, kwargs))

    @classmethod
    def validatesLengthOf(cls, *names: str, **kwargs: Any) -> None:
        """
        Require the attributes C{names} to have a length in C{range=} or of
        exactly C{length=}; C{message=} replaces the default message.
        """
        _checkNames(names)
        checkKeywords("validatesLengthOf", kwargs, {"range", "length", "message"})
        if "range" not in kwargs and "length" not in kwargs:
            raise ValueError("validatesLengthOf needs range= or length=")
        allowed = kwargs.get("range", [0])
        if not isinstance(allowed, Collection) or not allowed or isinstance(allowed, str):
            raise ValueError(f"range= must be a non-empty range of lengths, not {allowed!r}")
        length = kwargs.get("length", 0)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError(f"length= must be a non-negative int, not {length!r}")
        cls.addValidator(lambda obj: lengthOf(obj, names, kwargs))

    @classmethod
    def validatesUniquenessOf(cls, *names: str, **kwargs: Any) -> None:
        """
        Require no other row to have the same value for each of C{names}.
        C{message=} replaces "is not unique.".
        """
        _checkNames(names)
        checkKeywords("validatesUniquenessOf", kwargs, {"message"})
        cls.addValidator(Uniqueness(names, kwargs.get("message", "is not unique.")))

    @classmethod
    def clearValidations(cls) -> None:
        """
        Remove this class's validators.
        """
        cls._ownValidators().clear()
        _changes[0] += 1

    def validate(self) -> Deferred[Any]:
        """
        Run every validator, filling C{self.errors} afresh.

        @return: a L{Deferred} of this object.
        """
        self.errors = Errors()
        validators = type(self)._allValidators()
        if not validators:
            return succeed(self)
        try:
            waiting = runValidators(self, validators)
        except Exception:
            return fail()
        if waiting is None:
            return succeed(self)
        return waiting.addCallback(lambda _: self)

    def isValid(self) -> Deferred[bool]:
        """
        @return: a L{Deferred} of whether the object passes its validators.
        """
        return self.validate().addCallback(lambda obj: obj.errors.isEmpty())


def runValidators(obj: Any, funcs: list[ValidatorFunc]) -> Deferred[None] | None:
    """
    Run C{funcs} on C{obj} in order, each after the L{Deferred} of the one
    before has fired; they add to C{obj.errors}.

    @return: C{None} if all have run, or a L{Deferred} that fires when the
        rest have.
    @raise Exception: what a validator raises, when it does so at once.
    """
    for index, func in enumerate(funcs):
        result = deferredOf(func(obj))
        if isinstance(result, Deferred):
            rest = funcs[index + 1:]
            return result.addCallback(lambda _, rest: runValidators(obj, rest), rest)
    return None


def _checkNames(names: Iterable[str]) -> None:
    for name in names:
        checkIdentifier(name)
