"""Issue 23 (C1, H4): nothing from a URL, a form or upload metadata ever
reaches HTML unescaped.

One walk over every name the product publishes: the image's own methods
(found on the class, so that a new one is walked too), its traversal names
(tiles, v/SET, iiif, manifest.json, @@zoomify-upload, download,
download.jpg), the folder's add form and uploader, and the ZMI tabs.
Each gets markup in a path segment after it and in every query or form
value it takes, by GET and POST, as anonymous and as the manager, on a
public and a private image; the tus uploader gets it in every metadata
field. Then every page is read again, since a change by POST (a title)
may be shown later. An answer that is HTML (or says no type) must never
hold the markup as it was sent.

Real HTTP on loopback to this process's Zope (waitress over the
publisher), in the test's own DemoStorage.
"""

import base64
import inspect

import pytest

from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import add
from tests.zope_fixtures import local_server
from tests.zope_fixtures import zope_root

requests = pytest.importorskip("requests")

# what an attacker sends; MARK is what must never come back raw
MARK = "<zi-x id=1>"
PAYLOAD = "\"'>" + MARK + "</title><svg onload=alert(1)>"
SAFE_TYPES = ("application/json", "application/ld+json", "text/plain",
              "image/", "application/xml", "text/xml")

# names every published method of the image gets as query or form values
COMMON_PARAMS = ("title", "id", "storage", "quality", "viewer", "file",
                 "manage_tabs_message", "error_message", "v", "came_from")

TRAVERSALS = (
    "ImageProperties.xml", "TileGroup0", "TileGroup0/0-0-0.jpg", "v",
    "v/SET", "iiif", "iiif/info.json", "iiif/full", "iiif/full/max",
    "iiif/full/max/0", "iiif/a/b/c/d", "manifest.json", "about.json",
    "@@zoomify-upload",
    "download", "download.jpg", "status_json", "iiif/probe", "iiif/probe/x",
    "iiif-preview", "iiif-preview/info.json", "iiif-preview/full/max/0",
)


def _auth(login):
    if not login:
        return {}
    token = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
    return {"Authorization": "Basic " + token}


def published_names():
    """The image's methods the publisher can reach: ours (their module is
    the product's), with a docstring, not private."""
    from ZoomifyImage.content import ZoomifyImage
    names = set()
    for name in dir(ZoomifyImage):
        if name.startswith("_"):
            continue
        value = getattr(ZoomifyImage, name, None)
        if not callable(value) or not getattr(value, "__doc__", None):
            continue
        module = getattr(value, "__module__", "") or ""
        if not module.startswith("ZoomifyImage"):
            continue
        if getattr(ZoomifyImage, name + "__roles__", 1) == ():
            continue  # private
        names.add(name)
    for option in ZoomifyImage.manage_options:
        names.add(option["action"].split("/")[0].split("?")[0])
    return sorted(names)


def product_views():
    """The browser views the product registers (configure.zcml), found in
    the component registry, so that a view added later is walked too:
    (name, "image", "folder" or "site")."""
    from OFS.interfaces import IApplication
    from zope.component import getGlobalSiteManager
    from zope.interface import Interface
    from zope.publisher.interfaces.browser import IDefaultBrowserLayer

    from ZoomifyImage.interfaces import IZoomifyImage
    views = set()
    for reg in getGlobalSiteManager().registeredAdapters():
        if len(reg.required) != 2 or reg.provided is not Interface or \
                not reg.required[1].isOrExtends(IDefaultBrowserLayer):
            continue
        factory = getattr(reg.factory, "__bases__", ())
        modules = [getattr(reg.factory, "__module__", "")] + [
            getattr(b, "__module__", "") for b in factory]
        if not any(m.startswith("ZoomifyImage") for m in modules):
            continue
        # the site's own (the IIIF auth services) are walked at the root:
        # on a folder they are not found, and nothing would be walked
        kind = "image" if reg.required[0].isOrExtends(IZoomifyImage) \
            else "site" if reg.required[0].isOrExtends(IApplication) \
            else "folder"
        views.add((reg.name, kind))
    return sorted(views)


def _params(name):
    from ZoomifyImage.content import ZoomifyImage
    params = set(COMMON_PARAMS)
    value = getattr(ZoomifyImage, name, None)
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return sorted(params)
    params.update(p for p in signature.parameters
                  if p not in ("self", "REQUEST", "RESPONSE"))
    return sorted(params)


class Walk:
    def __init__(self, base):
        self.base = base
        self.echoes = []
        self.requests = 0

    def check(self, what, response):
        self.requests += 1
        kind = response.headers.get("Content-Type", "")
        if kind.startswith(SAFE_TYPES):
            return
        if MARK in response.text:
            self.echoes.append("%s -> %s %s" % (what, response.status_code,
                                                kind or "(no type)"))

    def send(self, method, path, login, **kw):
        headers = dict(_auth(login), **kw.pop("headers", {}))
        # a same-site form post, as the site's own pages send it
        headers.setdefault("Origin", self.base)
        response = requests.request(method, self.base + path,
                                    headers=headers, timeout=60,
                                    allow_redirects=False, **kw)
        self.check("%s %s (%s)" % (method, path, "manager" if login else
                                   "anonymous"), response)
        return response


@pytest.fixture
def site(zodb, folder, tmp_path):
    """A public image (ZODB store), one with its tiles on the filesystem
    and a private image, in ``folder``; the served site's URL."""
    from AccessControl.Permissions import view
    from OFS.Folder import manage_addFolder
    add(folder, _picture(), "pub", title="Public")
    add(folder, _picture(), "fs", storage="filesystem", title="On disc")
    from ZoomifyImage.content import manage_addZoomifyImage
    png = tmp_path / "secret.png"
    png.write_bytes(_png())
    with zope_root() as app:
        manage_addFolder(app[folder], "priv")
        app[folder]["priv"].manage_permission(view, ["Manager"], acquire=0)
        with open(png, "rb") as f:
            manage_addZoomifyImage(app[folder]["priv"], id="secret", file=f,
                                   title="Secret")
    with local_server() as url:
        yield url


def _picture():
    from tests.images import smooth
    return smooth(300, 200)


def _encoded(text):
    from urllib.parse import quote
    return quote(text, safe="")


def test_no_published_name_echoes_markup(site, folder):
    walk = Walk(site)
    images = ["/%s/pub" % folder, "/%s/fs" % folder,
              "/%s/priv/secret" % folder]
    names = published_names()
    assert {"index_html", "manage_main", "manage_edit", "manage_retile",
            "download", "status_json"} <= set(names)
    segment = _encoded(PAYLOAD)
    for login in (False, True):
        for image in images:
            for name in names + list(TRAVERSALS):
                url = "%s/%s" % (image, name)
                walk.send("GET", url + "/" + segment, login)
                walk.send("GET", url + "/a/b/c/d/" + segment, login)
                params = {p: PAYLOAD for p in _params(name)}
                walk.send("GET", url, login, params=params)
                walk.send("POST", url, login, data=params)
            walk.send("GET", image + "/" + segment, login)
    # folders: the add form, the uploader, the ZMI listing
    add_form = "/%s/manage_addProduct/ZoomifyImage" % folder
    for login in (False, True):
        for path in (add_form + "/manage_addZoomifyImageForm",
                     add_form + "/" + segment,
                     "/%s/@@zoomify-upload/%s" % (folder, segment),
                     "/%s/manage_main" % folder):
            walk.send("GET", path, login,
                      params={p: PAYLOAD for p in COMMON_PARAMS})
    # every view the product registers, on its kind of object (the
    # uploader, the list of unfinished uploads, any added later)
    views = product_views()
    assert {("zoomify-upload", "folder"), ("zoomify-upload", "image"),
            ("zoomify-uploads", "folder"), ("collection.json", "folder"),
            ("gallery", "folder"), ("zoomify-listing", "folder"),
            ("iiif-activity", "folder"), ("zoomify-iiif-login", "site"),
            ("zoomify-iiif-token", "site"), ("zoomify-iiif-logout", "site")} \
        <= set(views), views
    # the views' own parameters too (the login's way back, the token
    # service's message id and origin, the pages)
    params = {p: PAYLOAD for p in COMMON_PARAMS + (
        "done", "cancel", "came_from", "messageId", "origin", "page")}
    places = {"image": images, "folder": ["/" + folder], "site": [""]}
    for login in (False, True):
        for name, kind in views:
            for where in places[kind]:
                url = "%s/@@%s" % (where, name)
                walk.send("GET", url + "/" + segment, login)
                walk.send("GET", url, login, params=params)
                walk.send("POST", url, login, data=params)
    # the token service's page with a good origin: the message id goes
    # into its script
    for login in (False, True):
        walk.send("GET", "/@@zoomify-iiif-token", login,
                  params={"messageId": PAYLOAD, "origin": site})
    assert not walk.echoes, "\n".join(walk.echoes)
    assert walk.requests > 800


def test_changes_with_markup_are_never_shown_raw(site, folder):
    """What a manager or an uploader may set (title, file name, ids) and
    then sees on every page."""
    walk = Walk(site)
    image = "/%s/pub" % folder
    # the Edit tab's form, every value markup
    walk.send("POST", image + "/manage_edit", True,
              data={"title": PAYLOAD, "storage": PAYLOAD,
                    "quality": PAYLOAD, "viewer": PAYLOAD})
    # the description, every field markup (refused), and one at a time
    fields = ("summary", "creator", "date", "source", "identifier",
              "attribution_label", "attribution", "rights", "language",
              "metadata_label:list", "metadata_value:list",
              "metadata_language:list")
    walk.send("POST", image + "/manage_describe", True,
              data={name: PAYLOAD for name in fields})
    for name in fields:
        walk.send("POST", image + "/manage_describe", True,
                  data={name: PAYLOAD})
    # the add form with markup in id, title and the file's name
    walk.send("POST", "/%s/manage_addProduct/ZoomifyImage/"
              "manage_addZoomifyImage" % folder, True,
              data={"id": PAYLOAD, "title": PAYLOAD, "storage": PAYLOAD,
                    "quality": PAYLOAD, "summary": PAYLOAD,
                    "creator": PAYLOAD, "date": PAYLOAD, "rights": PAYLOAD},
              files={"file": (PAYLOAD + ".png", b"not an image")})
    walk.send("POST", "/%s/manage_addProduct/ZoomifyImage/"
              "manage_addZoomifyImage" % folder, True,
              data={"id": "fromform", "title": PAYLOAD},
              files={"file": (PAYLOAD + ".png", _png())})
    # the uploader with markup in every metadata field
    for n, field in enumerate(("filename", "title", "id", "storage",
                               "quality", "summary", "creator", "date",
                               "rights", "filetype", PAYLOAD)):
        meta = {"filename": "m.png", "title": "t", "id": "m%d" % n}
        meta[field] = PAYLOAD
        body = _png()
        created = walk.send(
            "POST", "/%s/@@zoomify-upload" % folder, True,
            headers={"Tus-Resumable": "1.0.0",
                     "Upload-Length": str(len(body)),
                     "Upload-Metadata": _metadata(meta)})
        location = created.headers.get("Location")
        if created.status_code == 201 and location:
            path = location[len(site):]
            walk.send("PATCH", path, True, data=body,
                      headers={"Tus-Resumable": "1.0.0",
                               "Upload-Offset": "0",
                               "Content-Type":
                                   "application/offset+octet-stream"})
    # uploads left unfinished, with markup in every field: listed by
    # the list of unfinished uploads, the add form and the Edit tab
    # (a file name loses what is before its last slash, and the id of a
    # new image must be valid: the markup without a slash, an id given)
    file_name = "\"'>" + MARK + "<svg onload=alert(1)>.png"
    for target, meta in (("", {"filename": file_name, "id": "open1"}),
                         ("/pub", {"filename": file_name})):
        created = walk.send(
            "POST", "/%s%s/@@zoomify-upload" % (folder, target), True,
            headers={"Tus-Resumable": "1.0.0", "Upload-Length": "99",
                     "Upload-Metadata": _metadata(meta)})
        assert created.status_code == 201, created.text
    # every page of every image in the folder, as manager and anonymous
    with zope_root(commit=False) as app:
        ids = app[folder].objectIds("Zoomify Image")
    views = product_views()
    for login in (False, True):
        for id in ids:
            for name in ("", "/view", "/manage_main", "/manage_workspace",
                         "/manifest.json", "/iiif/info.json") + tuple(
                             "/@@" + n for n, kind in views
                             if kind == "image"):
                walk.send("GET", "/%s/%s%s" % (folder, id, name), login)
        walk.send("GET", "/%s/manage_main" % folder, login)
        walk.send("GET", "/%s/manage_addProduct/ZoomifyImage/"
                  "manage_addZoomifyImageForm" % folder, login)
        for name, kind in views:
            if kind == "folder":
                walk.send("GET", "/%s/@@%s" % (folder, name), login)
    assert not walk.echoes, "\n".join(walk.echoes)


def _png():
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _metadata(values):
    return ",".join("%s %s" % (key.replace(" ", "_").replace(",", "_"),
                               base64.b64encode(value.encode()).decode())
                    for key, value in values.items())


def test_a_title_stored_with_markup_is_shown_as_text(site, folder):
    """An image whose title was saved before titles were checked: Zope's
    page header (manage_main's <title>) shows look-alike quotes."""
    with zope_root() as app:
        app[folder]["pub"].title = PAYLOAD
    walk = Walk(site)
    page = walk.send("GET", "/%s/pub/manage_main" % folder, True)
    assert page.status_code == 200
    assert "\u2039zi-x id=1\u203a" in page.text
    assert not walk.echoes, "\n".join(walk.echoes)


def test_a_description_stored_with_markup_is_shown_as_text(site, folder):
    """Texts with markup are refused (description.py); one stored by code
    is still text on every page, the viewer page's JSON-LD included."""
    from ZoomifyImage.description import Pair
    with zope_root() as app:
        image = app[folder]["pub"]
        for name in ("summary", "creator", "date", "source", "identifier",
                     "attribution_label", "attribution", "language"):
            setattr(image, name, PAYLOAD)
        image.metadata = (Pair(PAYLOAD, PAYLOAD, PAYLOAD),)
    walk = Walk(site)
    for login in (False, True):
        for name in ("", "/view", "/embed", "/manage_main"):
            page = walk.send("GET", "/%s/pub%s" % (folder, name), login)
            if name != "/manage_main" or login:
                assert page.status_code == 200, name
            if name in ("", "/manage_main") and login:
                # shown, as text
                assert "&lt;zi-x id=1&gt;" in page.text, name
    assert not walk.echoes, "\n".join(walk.echoes)


def test_a_title_with_markup_is_refused_with_a_clear_message(site, folder):
    walk = Walk(site)
    edit = walk.send("POST", "/%s/pub/manage_edit" % folder, True,
                     data={"title": "a <b>bold</b> title"})
    assert edit.status_code == 400
    assert "A title cannot contain &lt; or &gt;." in edit.text
    with zope_root(commit=False) as app:
        assert app[folder]["pub"].title == "Public"
    created = walk.send(
        "POST", "/%s/@@zoomify-upload" % folder, True,
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "100",
                 "Upload-Metadata": _metadata({"filename": "x.png",
                                               "title": "<b>x</b>"})})
    assert created.status_code == 400
    assert created.text == "A title cannot contain < or >."


# every way a module of the product could raise one of Zope's own HTTP
# errors, whose text Zope writes into its error page as it is
RAW_ERRORS = (
    "from zExceptions import NotFound\nraise NotFound(name)\n",
    "from zExceptions import HTTPNotFound\nraise HTTPNotFound(name)\n",
    "from zExceptions import HTTPPreconditionFailed\n"
    "raise HTTPPreconditionFailed(name)\n",
    "from zExceptions import MethodNotAllowed\nraise MethodNotAllowed(name)\n",
    "import zExceptions\nraise zExceptions.HTTPConflict(name)\n",
    "from zExceptions import Redirect\nraise Redirect(name)\n",
    "from ZPublisher.BaseRequest import NotFound\nraise NotFound(name)\n",
)


@pytest.mark.parametrize("source", RAW_ERRORS)
def test_the_lint_refuses_every_raw_zope_error(source):
    """The escaping classes of web_errors are the only HTTP errors the
    product may raise: ruff's banned-api refuses every class of zExceptions
    (67 of them, NotFound's aliases such as HTTPNotFound included) in any
    module of the product but web_errors.py, which wraps them."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")

    def lint(filename, text):
        return subprocess.run(
            [ruff, "check", "--no-cache", "--select", "TID251",
             "--stdin-filename", filename, "-"],
            input="name = 'x'\n" + text, capture_output=True, text=True,
            cwd=root)

    refused = lint("ZoomifyImage/some_new_module.py", source)
    assert refused.returncode == 1 and "TID251" in refused.stdout, (
        source, refused.stdout, refused.stderr)
    # the control: what web_errors offers passes
    allowed = lint("ZoomifyImage/some_new_module.py",
                   "from .web_errors import NotFound\nraise NotFound(name)\n")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_no_module_holds_a_raw_zope_error():
    """Whatever the import path (Zope re-exports zExceptions' classes from
    ZPublisher's modules, which the lint cannot know all of): no module of
    the product but web_errors holds an HTTP error class of Zope's, only
    web_errors' escaping ones (Unauthorized's 401 has no body: allowed)."""
    import importlib
    import pkgutil

    import zExceptions

    import ZoomifyImage
    from ZoomifyImage import web_errors
    ours = {c for c in vars(web_errors).values()
            if isinstance(c, type) and c.__module__ == web_errors.__name__}
    # Zope's own, as web_errors names them to be caught, never raised
    caught = {v for n, v in vars(web_errors).items() if n.startswith("Any")}
    raw = []
    for info in pkgutil.walk_packages(ZoomifyImage.__path__,
                                      ZoomifyImage.__name__ + "."):
        if info.name == web_errors.__name__:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional engine not installed
            continue
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(
                    value, zExceptions.HTTPException) and \
                    value not in ours and not (
                        name.startswith("Any") and value in caught) and \
                    not issubclass(value, zExceptions.Unauthorized):
                raw.append("%s.%s" % (info.name, name))
    assert not raw, raw
