"""
The bookshop: the example service's code. L{bookshop.models} holds its
twistar models, L{bookshop.routing} a small JSON router on twisted.web,
L{bookshop.api} the routes of its JSON API. C{examples/service/app.py}
connects, migrates and serves it.
"""
