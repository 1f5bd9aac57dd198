"""The HTTP errors the product raises to the publisher.

Zope (6.3) writes the text of an HTTP exception into its error page as
HTML, unescaped (zExceptions.HTTPException.__call__ formats it into
ERROR_HTML), so ``NotFound(name)`` with a URL segment was script on our
site for anyone who followed a link (issue 23, C1). These classes escape
their text; ruff's banned-api (ruff.toml) refuses the whole of zExceptions
(all its 67 classes, HTTPNotFound as well as NotFound) and ZPublisher's
re-exports of them everywhere else in the product, so no text reaches that
page raw; one more is needed: add it here.
"""

import html

import zExceptions

# to catch Zope's own (an id checkValidId refuses; any 4xx of a
# traversal), never to raise: a name starting with Any
AnyBadRequest = zExceptions.BadRequest
AnyClientError = zExceptions.HTTPClientError


class _Escaped:
    def __init__(self, *args):
        # the text as it was, for answers that are not HTML (text/plain)
        self.text = " ".join(str(a) for a in args)
        super().__init__(*(html.escape(str(a), quote=True) for a in args))


def plain_text(error):
    """An error's text for a text/plain answer (ours and Zope's)."""
    return getattr(error, "text", None) or str(error)


class NotFound(_Escaped, zExceptions.NotFound):
    pass


class BadRequest(_Escaped, zExceptions.BadRequest):
    pass


class Forbidden(_Escaped, zExceptions.Forbidden):
    pass


class MethodNotAllowed(_Escaped, zExceptions.MethodNotAllowed):
    pass


class ServiceUnavailable(_Escaped, zExceptions.HTTPServiceUnavailable):
    pass
