"""
A small JSON router on twisted.web, with no other dependency.

L{Router} is a twisted.web resource: C{@router.route("GET", "/books/{id}")}
routes a method and a path to an C{async def} handler, called with the
request and the path's numbers as keyword arguments. What the handler
returns is sent as JSON (C{None}: C{204 No Content}); an L{HTTPError} it
raises is sent as its status and a JSON body. A request that writes (POST,
PUT, PATCH, DELETE) runs in one database transaction, committed before the
response is sent, rolled back when the handler raises.
"""

import json
import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from twistar.exceptions import IntegrityError
from twistar.transaction import transaction

log = Logger()

WRITES = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})


class HTTPError(Exception):
    """
    An error response: C{status}, and C{{"error": message, **details}} as
    its JSON body.
    """

    def __init__(self, status, message, **details):
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **details}


class NotFound(HTTPError):
    def __init__(self, message="not found"):
        super().__init__(404, message)


class Invalid(HTTPError):
    """
    A 422 response with validation errors: C{{"errors": {"title": [...]}}}.
    """

    def __init__(self, errors):
        super().__init__(422, "invalid", errors=dict(errors))


def readJSON(request):
    """
    @return: the JSON object (a dict) of the request's body.
    @raise HTTPError: 400 when the body is no JSON object.
    """
    try:
        body = json.loads(request.content.read() or b"null")
    except ValueError as e:
        raise HTTPError(400, f"the body is not JSON: {e}")
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return body


class Router(Resource):
    """
    A twisted.web resource serving the routes added with L{route}.
    """

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.routes = []

    def route(self, method, path):
        """
        A decorator routing C{method} and C{path} to an C{async def}
        handler. C{{name}} in C{path} matches a number, given to the handler
        as the C{int} keyword argument C{name}.
        """
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9]+)", path) + "$")

        def add(handler):
            self.routes.append((method.encode("ascii"), pattern, handler))
            return handler

        return add

    def render(self, request):
        path = request.path.decode("utf-8", "replace")
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            arguments = {name: int(value) for name, value in match.groupdict().items()}
            defer.ensureDeferred(self.respond(request, handler, arguments))
            return NOT_DONE_YET
        if allowed:
            request.setHeader(b"Allow", b", ".join(allowed))
            return self.send(request, 405, {"error": "method not allowed"})
        return self.send(request, 404, {"error": "not found"})

    async def respond(self, request, handler, arguments):
        """
        Run C{handler} (in a transaction if the request writes) and send
        what it returns, or the error it raised.
        """
        gone = []
        request.notifyFinish().addErrback(gone.append)
        try:
            if request.method in WRITES:
                async with transaction():
                    body = await handler(request, **arguments)
            else:
                body = await handler(request, **arguments)
            status = request.code if body is not None else 204
        except HTTPError as e:
            status, body = e.status, e.body
        except IntegrityError as e:
            # A constraint of the database refused the change: a concurrent
            # request wrote a clashing row after the validators looked.
            status, body = 409, {"error": f"conflict: {e}"}
        except Exception:
            log.failure("{method} {path} failed", method=request.method, path=request.path)
            status, body = 500, {"error": "internal server error"}
        if not gone:
            request.write(self.send(request, status, body))
            request.finish()

    @staticmethod
    def send(request, status, body):
        """
        Set C{status} and the JSON content type.

        @return: C{body} as JSON bytes (nothing for C{None}).
        """
        request.setResponseCode(status)
        if body is None:
            return b""
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(body).encode("utf-8") + b"\n"
