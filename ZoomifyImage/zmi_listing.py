"""The ZMI's folder listing (manage_main of a folder or the site root)
shows a thumbnail and the tiling status of each Zoomify image.

Zope's listing (OFS/zpt/main.zpt) has no hook for a column or a picture
of a row: only the icon's CSS class (zmi_icon, which already marks a
failed image and one waiting for or being cut into tiles, zmi.py). Its
page header, though, loads the scripts that subscribers providing
App.interfaces.IJSPaths name for the folder (Zope's own ZMI adds jQuery
and Bootstrap this way): ours (static/zoomify-zmi-listing.js) asks the
folder's @@zoomify-listing for the images' status and thumbnails and
adds them to their rows; it does nothing on the folder's other tabs.

The thumbnails are the images' smallest stored tiers of at least
ZMI_SIDE pixels (listing.thumbnail), through their IIIF service."""

import json

from AccessControl.Permissions import view as View
from AccessControl.SecurityManagement import getSecurityManager
from Products.Five.browser import BrowserView

from .interfaces import IDeepZoomImage
from .listing import read_only
from .listing import thumbnail
from .viewer import RESOURCE
from .viewer import site_path

ZMI_SIDE = 48

STATUS_TEXT = {
    "ready": "tiled",
    "empty": "no tiles",
    "queued": "waiting to be tiled",
    "tiling": "being tiled",
    "failed": "tiling failed",
}


def js_paths(folder):
    """The listing's script, for manage_page_header (IJSPaths)."""
    root = site_path(folder.getPhysicalRoot()).rstrip("/")
    return ("%s/%s/zoomify-zmi-listing.js" % (root, RESOURCE),)


def status_text(image):
    status = image.current_status()
    text = STATUS_TEXT.get(status, status)
    progress = image.progress() if status == "tiling" else None
    if progress and progress[1]:
        text += " (%d%%)" % (100 * progress[0] // progress[1])
    return status, text


def image_facts(image):
    """What the row of ``image`` shows: its status and thumbnail."""
    status, text = status_text(image)
    facts = {"status": status, "text": text}
    thumb = thumbnail(image, ZMI_SIDE) if status == "ready" else None
    if thumb is not None:
        facts.update(
            thumbnail="%s/%s?v=%s" % (site_path(image), thumb.path,
                                      thumb.set_id),
            width=thumb.shown[0], height=thumb.shown[1])
    return facts


class ListingView(BrowserView):
    """FOLDER/@@zoomify-listing: {"images": {ID: facts}} of the Zoomify
    images of the folder the manager may view."""

    def __call__(self):
        """The status and thumbnail of each image of the folder (JSON)."""
        read_only(self.request)
        check = getSecurityManager().checkPermission
        images = {}
        for id, obj in self.context.objectItems():
            if IDeepZoomImage.providedBy(obj) and check(View, obj):
                images[id] = image_facts(obj)
        response = self.request.response
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Cache-Control", "no-store")
        return json.dumps({"images": images})
