"""A request that finds the database gone (PostgreSQL restarting under
RelStorage, a ZEO server away) is not a bare 500.

RelStorage reconnects by itself once the database is back, but a request
that arrives while it is down gets the driver's error from the poll that
opens its ZODB connection: that happens in ZPublisher's load_app, before
and outside the publisher's retry of TransientErrors, so no exception
view or IPubFailure subscriber ever sees it. Hence a WSGI filter around
the publisher (zope.ini's pipeline, written by instance.py): a GET or
HEAD is published again a few times over some seconds (a restart takes
about one), then, as any other request that meets the database gone, is
answered 503 with Retry-After and a text that names nothing of the
server. (A ZEO client has waited for its server before it raises: its
requests get the 503 at once.) The log gets one line, not a traceback
per request.
"""

import logging
import time

logger = logging.getLogger("ZoomifyImage")

# waits before each new try of a read: some 3 s in all
RETRY_DELAYS = (0.25, 0.5, 1.0, 1.25)
RETRY_AFTER = 5  # seconds, told to the client of a 503
READS = ("GET", "HEAD")
TEXT = (b"The site's database cannot be reached for a moment. "
        b"Please try again in a few seconds.\n")


def disconnected_errors():
    """(retried, answered) exception classes that say the database
    connection is lost, those installed: the PostgreSQL driver's
    (RelStorage's disconnected_exceptions for psycopg2), tried again;
    ZEO's ClientDisconnected, answered at once (the client has waited
    its wait-timeout for the server already)."""
    retried, answered = [], []
    try:
        import psycopg2
        retried += [psycopg2.OperationalError, psycopg2.InterfaceError]
    except ImportError:
        pass
    try:
        from ZEO.Exceptions import ClientDisconnected
        answered.append(ClientDisconnected)
    except ImportError:
        pass
    return tuple(retried), tuple(retried + answered)


class DatabaseUnavailable:
    """The WSGI filter: ``app`` is the publisher."""

    def __init__(self, app, delays=RETRY_DELAYS):
        self.app = app
        self.delays = delays
        self.retried, self.errors = disconnected_errors()

    def __call__(self, environ, start_response):
        if not self.errors:
            return self.app(environ, start_response)
        delays = (self.delays if environ.get("REQUEST_METHOD") in READS
                  else ())
        attempt = 0
        while True:
            # the publisher rewrites the environment (PATH_INFO): each
            # try gets the original
            try:
                return self.app(dict(environ), start_response)
            except self.errors as e:
                error = e
            if attempt >= len(delays) or not isinstance(error,
                                                         self.retried):
                break
            time.sleep(delays[attempt])
            attempt += 1
        logger.warning("the database cannot be reached (%s: %s): %s %s "
                       "answered 503 after %d tries",
                       type(error).__name__, str(error).strip()[:200],
                       environ.get("REQUEST_METHOD"),
                       environ.get("PATH_INFO"), attempt + 1)
        start_response("503 Service Unavailable", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(TEXT))),
            ("Retry-After", str(RETRY_AFTER)),
            ("Cache-Control", "no-store")])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else TEXT]


def filter_factory(global_conf, **local_conf):
    """PasteDeploy's entry: ``use = call:ZoomifyImage.database_unavailable
    :filter_factory`` in a [filter:...] section."""
    return DatabaseUnavailable
