"""Anonymous asking for a private item's tiles, IIIF, manifest or
original, or a private folder's IIIF collection, gets 401, not Plone's
redirect to the login form (a 302 to an HTML page, which a viewer, a
IIIF client or a cache cannot tell from content). The item's traversal
marks such a request (content.py), a collection is known by its name;
this PAS challenge protocol chooser then names a protocol no challenger
speaks, so PAS falls back to Zope's own 401. The install step puts it in
the site's acl_users (setuphandlers.py); other requests are untouched."""

from AccessControl.class_init import InitializeClass
from Products.PluggableAuthService.interfaces.plugins import (
    IChallengeProtocolChooser,
)
from Products.PluggableAuthService.plugins.BasePlugin import BasePlugin
from zope.interface import implementer

PLUGIN_ID = "zoomifyimage_no_login_page"
MARK = "zoomifyimage.no_login_page"
NO_CHALLENGER = "zoomifyimage-401"


# the folder views that IIIF clients read (../iiif_collection.py)
COLLECTION_NAMES = ("collection.json", "@@collection.json")


def _asks_collection(request):
    path = request.get("PATH_INFO", "") or ""
    return path.rstrip("/").rsplit("/", 1)[-1] in COLLECTION_NAMES


def mark(request):
    """This request asks for a pyramid's part: a refusal is a 401."""
    request.set(MARK, True)


@implementer(IChallengeProtocolChooser)
class NoLoginPage(BasePlugin):
    """A 401 for the pyramid's names (see the module)."""

    meta_type = "ZoomifyImage no login page"

    def __init__(self, id=PLUGIN_ID, title=None):
        self._setId(id)
        self.title = title or "Zoomify Image: 401 for tiles, no login page"

    def chooseProtocols(self, request):
        if request.get(MARK):
            return (NO_CHALLENGER,)
        if _asks_collection(request):
            # a folder's IIIF collection: refused before any code of
            # ours runs (the view's own permission), so known by its name
            request.response.setHeader("Cache-Control", "private, no-cache")
            return (NO_CHALLENGER,)
        return None


InitializeClass(NoLoginPage)


def install(portal):
    pas = portal.acl_users
    if PLUGIN_ID not in pas.objectIds():
        pas._setObject(PLUGIN_ID, NoLoginPage())
    plugins = pas.plugins
    if PLUGIN_ID not in plugins.listPluginIds(IChallengeProtocolChooser):
        plugins.activatePlugin(IChallengeProtocolChooser, PLUGIN_ID)


def uninstall(portal):
    pas = portal.acl_users
    if PLUGIN_ID in pas.objectIds():
        pas.manage_delObjects([PLUGIN_ID])
