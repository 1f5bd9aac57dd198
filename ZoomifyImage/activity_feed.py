"""FOLDER/@@iiif-activity and SITE/@@iiif-activity: IIIF Change Discovery
1.0 (https://iiif.io/api/discovery/1.0/), level 2, from the log of
activity.py.

    @@iiif-activity            the OrderedCollection: totalItems, first
                               and last page
    @@iiif-activity?page=N     an OrderedCollectionPage (N from 0): the
                               activities oldest first, partOf, prev, next

Only images anonymous may see are in the log, so the feed is the same for
everyone: public, cached briefly. A folder anonymous may not view has
its feed guarded as its other views (View: 401), and never public. A
folder's feed has the events of the images below it (a move out of it
is a Delete there); the site's has all. Either reads its own pages only
(activity.py keeps the events of each folder as well).
"""

import json
import re
import time

from Products.Five.browser import BrowserView
from ZPublisher import zpublish

from .activity import log_of
from .listing import read_only
from .serving import anonymous_may_view
from .web_errors import NotFound

CONTEXT = "http://iiif.io/api/discovery/1/context.json"
PAGE_SIZE = 100
_PAGE = re.compile(r"[0-9]{1,9}")
MAX_AGE = 60  # seconds a feed may be cached: new events show soon
CONTENT_TYPE = 'application/ld+json;profile="%s"' % CONTEXT


def when(seconds):
    """xsd:dateTime in UTC, as the spec asks for endTime."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Events:
    """The events of a log below ``path`` ("" for the whole site), by
    page: the log's own Sequence or the folder's (activity.py)."""

    def __init__(self, log, path):
        self.sequence = None
        if log is not None:
            self.sequence = log.folders.get(path) if path else log.events

    def __len__(self):
        return self.sequence.size() if self.sequence is not None else 0

    def page(self, number):
        """The events of page ``number``: [(kind, path, time)]. Keys run
        from 0 with no gap but an Undo's: a page is PAGE_SIZE keys, as
        many events as are left of them."""
        if self.sequence is None:
            return []
        return self.sequence.page(number, PAGE_SIZE)

    def pages(self):
        count = self.sequence.count if self.sequence is not None else 0
        return max(1, -(-count // PAGE_SIZE))


@zpublish
class ActivityFeed(BrowserView):
    """The IIIF Change Discovery feed of a folder or of the site."""

    @zpublish(methods=("GET", "HEAD"))
    def __call__(self):
        request, response = self.request, self.request.response
        read_only(request)
        context = self.context
        physical = "/".join(context.getPhysicalPath())
        events = Events(log_of(context._p_jar, create=False), physical)
        url = context.absolute_url() + "/@@iiif-activity"
        page = request.form.get("page")
        if page is None:
            doc = collection(url, events)
        else:
            # ASCII digits only: str.isdigit() takes '²', which int()
            # refuses (a 500)
            if not isinstance(page, str) or \
                    not _PAGE.fullmatch(page) or \
                    int(page) >= events.pages():
                raise NotFound("There is no such page.")
            doc = page_of(url, events, int(page), request)
        body = json.dumps(doc, indent=1).encode("utf-8")
        response.setHeader("Content-Type", CONTENT_TYPE)
        # a folder anonymous may not view: its feed (the same public
        # events) is still no shared cache's to give, which would tell
        # anyone the folder exists
        response.setHeader("Cache-Control", "%s, max-age=%d" % (
            "public" if anonymous_may_view(context) else "private",
            MAX_AGE))
        response.setHeader("Access-Control-Allow-Origin", "*")
        response.setHeader("Content-Length", str(len(body)))
        return b"" if request.get("REQUEST_METHOD") == "HEAD" else body


def _page_ref(url, number):
    return {"id": "%s?page=%d" % (url, number),
            "type": "OrderedCollectionPage"}


def collection(url, events):
    """The OrderedCollection (a dict)."""
    last = events.pages() - 1
    return {
        "@context": CONTEXT,
        "id": url,
        "type": "OrderedCollection",
        "totalItems": len(events),
        "first": _page_ref(url, 0),
        "last": _page_ref(url, last),
    }


def page_of(url, events, number, request):
    """OrderedCollectionPage ``number`` (a dict)."""
    doc = {
        "@context": CONTEXT,
        "id": "%s?page=%d" % (url, number),
        "type": "OrderedCollectionPage",
        "partOf": {"id": url, "type": "OrderedCollection"},
    }
    doc["startIndex"] = number * PAGE_SIZE
    if number > 0:
        doc["prev"] = _page_ref(url, number - 1)
    if number < events.pages() - 1:
        doc["next"] = _page_ref(url, number + 1)
    doc["orderedItems"] = [
        {"type": kind,
         "object": {"id": request.physicalPathToURL(path) +
                    "/manifest.json", "type": "Manifest"},
         "endTime": when(seconds)}
        for kind, path, seconds in events.page(number)]
    return doc


def not_webdav(event):
    """IPubStart: a request for the feed is no WebDAV request (for other
    methods than GET and POST Zope looks the last name up as an
    attribute of the folder, and a view is none: a 500). Then the view
    answers 405."""
    names = event.request.get("PATH_INFO", "").split("/")
    if "@@iiif-activity" in names or "iiif-activity" in names:
        event.request.maybe_webdav_client = 0
