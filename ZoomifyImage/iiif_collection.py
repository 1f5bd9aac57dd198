"""FOLDER/collection.json: a IIIF Presentation 3 Collection of the
manifests of the folder's images, and of its sub-folders as Collections
of their own, as far as the requester may view them (listing.py).

Paging: Presentation 3 has no paged Collection (3.0 removed 2.1's
first/next/total of Collections: a hierarchy of Collections does the
same, change log 1.4.4). Up to PAGE_SIZE entries are the Collection's
items; more, and its items are Collections of PAGE_SIZE entries each,
FOLDER/collection.json?page=N, labelled with the range they hold, each
naming the whole as its ``partOf``. A client walks the hierarchy as it
walks sub-folders.

Each Manifest is referenced with its id (IMAGE/manifest.json), type,
label and a thumbnail (a stored tier through the image's IIIF service,
listing.thumbnail), as the spec recommends for Collections' items.

The answer depends on the requester as soon as anything in the folder is
hidden from anonymous: it is then private (no shared cache, no CORS);
otherwise public, for any site's viewer (CORS) and shared caches. Its
ETag names its bytes: a revalidation costs a listing, not the transfer.
"""

import hashlib
import json

from Products.Five.browser import BrowserView

from . import config
from .iiif import PRESENTATION_CONTEXT
from .listing import PAGE_SIZE
from .listing import list_folder
from .listing import page_count
from .listing import page_number
from .listing import page_of
from .listing import read_only
from .listing import thumbnail
from .serving import allow_other_sites
from .serving import json_media_type
from .serving import send_document
from .web_errors import BadRequest
from .web_errors import NotFound
from .web_errors import plain_text

NAME = "collection.json"


def _label(text):
    return {"none": [text]}


def entry(item):
    """What a Collection says of one listing.Entry (a reference)."""
    obj = item.obj
    url = obj.absolute_url()
    label = _label(obj.title_or_id())
    if item.kind == "folder":
        return {"id": "%s/%s" % (url, NAME), "type": "Collection",
                "label": label}
    doc = {"id": url + "/manifest.json", "type": "Manifest", "label": label}
    thumb = thumbnail(obj)
    if thumb is not None:
        doc["thumbnail"] = [{
            "id": "%s/%s" % (url, thumb.path), "type": "Image",
            "format": "image/jpeg",
            "width": thumb.tier[0], "height": thumb.tier[1],
            "service": [{"id": url + "/iiif", "type": "ImageService3",
                         "profile": "level2"}]}]
    return doc


def page_label(title, number, count, size=PAGE_SIZE):
    first = (number - 1) * size + 1
    last = min(count, number * size)
    return "%s: %d to %d of %d" % (title, first, last, count)


def collection(folder, listing, page=None, size=PAGE_SIZE):
    """The Collection document (a dict) of ``folder`` with ``listing``:
    the whole (``page`` None) or one of its pages."""
    url = "%s/%s" % (folder.absolute_url(), NAME)
    title = folder.title_or_id()
    entries = listing.entries
    count = len(entries)
    doc = {"@context": PRESENTATION_CONTEXT, "id": url,
           "type": "Collection", "label": _label(title)}
    if page is not None:
        doc["id"] = "%s?page=%d" % (url, page)
        doc["label"] = _label(page_label(title, page, count, size))
        doc["partOf"] = [{"id": url, "type": "Collection",
                          "label": _label(title)}]
        doc["items"] = [entry(e) for e in page_of(entries, page, size)]
    elif count > size:
        doc["items"] = [
            {"id": "%s?page=%d" % (url, n), "type": "Collection",
             "label": _label(page_label(title, n, count, size))}
            for n in range(1, page_count(count, size) + 1)]
    else:
        doc["items"] = [entry(e) for e in entries]
    rights = config.settings().iiif_rights
    if rights:
        doc["rights"] = rights
    return doc


class CollectionView(BrowserView):
    """FOLDER/collection.json (the site root's too)."""

    def __call__(self):
        """The folder's IIIF Collection (GET, HEAD)."""
        read_only(self.request)
        request, response = self.request, self.request.response
        listing = list_folder(self.context)
        try:
            page = None
            if "page" in request.form:
                page = page_number(request.form.get("page"),
                                   len(listing.entries))
        except (BadRequest, NotFound) as error:
            response.setStatus(400 if isinstance(error, BadRequest)
                               else 404)
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            response.setHeader("Cache-Control", "no-store")
            return plain_text(error) + "\n"
        doc = collection(self.context, listing, page)
        return send(listing.public, doc, request, response)


def send(public, doc, request, response):
    """The document as JSON-LD (or JSON, as the client accepts), with an
    ETag of its bytes; Cache-Control by who may see the same."""
    body = json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
    content_type = json_media_type(request, PRESENTATION_CONTEXT)
    etag = '"zc-%s"' % hashlib.sha1(content_type.encode() + body) \
        .hexdigest()[:16]
    allow_other_sites(None, response, public)
    response.setHeader("Vary", "Accept")
    response.setHeader("ETag", etag)
    if public:
        response.setHeader("Cache-Control", "public, max-age=%d"
                           % config.settings().cache_max_age)
    else:
        # another user, or the same after logging in, sees other items:
        # only the browser keeps it, and asks again each time
        response.setHeader("Cache-Control", "private, no-cache")
    return send_document(request, response, body, content_type, etag)
