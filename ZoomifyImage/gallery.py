"""FOLDER/gallery: a page of thumbnails of the folder's images (those the
visitor may view, listing.py), each a link to the image's viewer page,
and links to the galleries of its sub-folders; PAGE_SIZE entries a page.

A thumbnail is a stored tier of the image, never its original
(listing.thumbnail: the smallest tier at least THUMBNAIL_SIDE pixels
long, from the tile store through the image's IIIF service), named with
its tile set (?v=SET), so that browsers keep it until the set changes.
Each <img> is lazily loaded and carries its width and height (the page
does not move as they arrive) and the image's title as its text.
Paths only, never a host (viewer.site_path: issue 23, H1)."""

from AccessControl.Permissions import view as View
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_inner
from Acquisition import aq_parent
from OFS.interfaces import IFolder
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from .listing import is_site_root
from .listing import list_folder
from .listing import page_count
from .listing import page_number
from .listing import page_of
from .listing import read_only
from .listing import thumbnail
from .serving import page_cache_control
from .viewer import RESOURCE
from .viewer import site_path


def _count_text(entries):
    images = sum(1 for e in entries if e.kind == "image")
    folders = len(entries) - images
    text = "%d image%s" % (images, "" if images == 1 else "s")
    if folders:
        text += ", %d folder%s" % (folders, "" if folders == 1 else "s")
    return text


def _image(obj):
    thumb = thumbnail(obj)
    if thumb is None:
        return None
    path = site_path(obj)
    return {"url": path, "title": obj.title_or_id(),
            "thumbnail": "%s/%s?v=%s" % (path, thumb.path, thumb.set_id),
            "width": thumb.shown[0], "height": thumb.shown[1]}


def _pages(here, number, count):
    total = page_count(count)
    if total == 1:
        return None
    return {
        "text": "Page %d of %d" % (number, total),
        "previous": "%s?page=%d" % (here, number - 1) if number > 1
        else "",
        "next": "%s?page=%d" % (here, number + 1) if number < total
        else "",
    }


def _up(folder):
    """The gallery of the folder above, if the visitor may see it."""
    parent = aq_parent(aq_inner(folder))
    if is_site_root(folder):  # a Plone site: Zope's root is not its
        return ""
    if parent is None or not IFolder.providedBy(parent) or not \
            getSecurityManager().checkPermission(View, parent):
        return ""
    return site_path(parent).rstrip("/") + "/gallery"


class GalleryView(BrowserView):
    """FOLDER/gallery (the site root's too)."""

    template = ViewPageTemplateFile("www/gallery.pt")

    def __call__(self):
        """The folder's gallery of thumbnails (GET, HEAD)."""
        read_only(self.request)
        context, request = self.context, self.request
        response = request.response
        listing = list_folder(context)
        entries = listing.entries
        # a bad page is a 400 or 404 (escaped text: web_errors)
        number = page_number(request.form.get("page"), len(entries))
        shown = page_of(entries, number)
        here = site_path(context).rstrip("/")
        images = [i for i in (_image(e.obj) for e in shown
                              if e.kind == "image") if i is not None]
        folders = [{"url": site_path(e.obj) + "/gallery",
                    "title": e.obj.title_or_id()}
                   for e in shown if e.kind == "folder"]
        up = _up(context)
        title = context.title_or_id()
        root = site_path(context.getPhysicalRoot()).rstrip("/")
        # the publisher's <base> would name the request's host (H1)
        response.setBase(None)
        # new images appear, others go: always ask again; a page that
        # another visitor sees otherwise stays out of shared caches
        response.setHeader("Cache-Control",
                           page_cache_control(listing.public))
        body = self.template(
            title=title,
            page_title=title + (" (page %d)" % number if number > 1
                                else ""),
            count_text=_count_text(entries),
            images=images,
            folders=folders,
            pages=_pages(here + "/gallery", number, len(entries)),
            collection_url=here + "/collection.json",
            up_url=up,
            css_url="%s/%s/zoomify-gallery.css" % (root, RESOURCE),
        )
        if request.get("REQUEST_METHOD") == "HEAD":
            response.setHeader("Content-Type", "text/html; charset=utf-8")
            response.setHeader("Content-Length",
                               str(len(body.encode("utf-8"))))
            return b""
        return body
