"""Issue 23, M5: the same permission path for every way to change an image.

A user who may not edit an image tries every way there is to change it (the
Edit tab's methods, WebDAV, the resumable uploader, the add form and the
container's own methods) over real HTTP through the publisher, and nothing
changes. The users are those of the hostile review: an editor (Add Zoomify
Images and Change Images and Files at the root, here also Delete objects
and Copy or Move) in a folder that hides its contents from him (no View,
no Access contents information), a viewer (View only), and anonymous. A
control shows the same ways work for the editor where he may edit, so that
the walk cannot pass by refusing all."""

import base64
import hashlib
import io

import pytest
from PIL import Image

from tests.images import smooth
from tests.zope_fixtures import add
from tests.zope_fixtures import local_server
from tests.zope_fixtures import zope_root

requests = pytest.importorskip("requests")

EDITOR = ("editor", "editor-secret")
VIEWER = ("viewer", "viewer-secret")
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
ADD = "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage"
PRIVATE = ("View", "Access contents information")


PROPPATCH = b"""<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:z="http://www.zope.org/propsets/default">
<D:set><D:prop><z:title>changed</z:title></D:prop></D:set>
</D:propertyupdate>"""
LOCK = b"""<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>"""


def jpeg(seed, size=(240, 160)):
    out = io.BytesIO()
    Image.fromarray(smooth(size[0], size[1], seed)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def site(zodb, tmp_path):
    """pub (anonymous may view) with `small`, priv (View and Access
    contents information for Manager and Viewer only) with `secret`; the
    editor and the viewer; the site served on a loopback port."""
    from OFS.Folder import manage_addFolder
    with zope_root() as app:
        for role, permissions in (
                ("Editor", ["Add Zoomify Images", "Change Images and Files",
                            "Delete objects", "Copy or Move"]),
                ("Viewer", ["View"])):
            if role not in app.valid_roles():
                app._addRole(role)
            app.manage_role(role, permissions=permissions)
        for (name, password), role in ((EDITOR, "Editor"),
                                       (VIEWER, "Viewer")):
            app.acl_users._doAddUser(name, password, [role], [])
        for name in ("pub", "priv"):
            if name in app.objectIds():
                app.manage_delObjects([name])
            manage_addFolder(app, name)
        for permission in PRIVATE:
            app.priv.manage_permission(permission, ["Manager", "Viewer"],
                                       acquire=0)
    for folder, id, seed in (("pub", "small", 1), ("priv", "secret", 2)):
        path = tmp_path / (id + ".jpg")
        path.write_bytes(jpeg(seed))
        add(folder, str(path), id, title=id.title())
    with local_server() as url:
        yield url


def state():
    """What a change would change: every object of both folders with its
    title, file, bytes and tile set, and the folders' own ids."""
    with zope_root(commit=False) as app:
        result = {"site": sorted(app.objectIds())}
        for name in ("pub", "priv"):
            folder = app[name]
            result[name] = {}
            for id in sorted(folder.objectIds()):
                image = folder[id]
                original = image.original_file()
                with open(original, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                result[name][id] = (image.title, image.filename, digest,
                                    image.tiles_version, image.status)
        return result


def open_uploads_of(user):
    from ZoomifyImage.uploads import open_uploads
    from ZoomifyImage.uploads import upload_dir
    with zope_root(commit=False):
        return [u.id for u, info in open_uploads(upload_dir())
                if info["owner"].endswith(" " + user)]


def metadata(**values):
    return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode())
                    for k, v in values.items())


def tus_upload(endpoint, data, auth, **meta):
    """Create an upload at ENDPOINT/@@zoomify-upload and send all of
    ``data``; the statuses of the answers."""
    meta.setdefault("filename", "new.jpg")
    r = requests.post(endpoint + "/@@zoomify-upload", auth=auth,
                      headers=dict(TUS, **{
                          "Upload-Length": str(len(data)),
                          "Upload-Metadata": metadata(**meta)}))
    statuses = [r.status_code]
    if r.status_code == 201:
        r = requests.patch(r.headers["Location"], data=data, auth=auth,
                           headers=dict(TUS, **{"Upload-Offset": "0",
                                                "Content-Type": OCTETS}))
        statuses.append(r.status_code)
    return statuses


def cut_data(folder, id):
    """The clipboard of a cut of FOLDER/ID, as the ZMI's cookie holds
    it."""
    from OFS.CopySupport import _cb_encode
    from OFS.Moniker import Moniker
    with zope_root(commit=False) as app:
        return _cb_encode((1, [Moniker(app[folder][id]).dump()]))


def change_paths(url, folder, id, other):
    """Every way to change FOLDER/ID (or to add beside it) that the site
    publishes: (name, a function of the user's auth -> statuses)."""
    image = "%s/%s/%s" % (url, folder, id)
    container = "%s/%s" % (url, folder)
    new = jpeg(9, (200, 200))
    files = {"file": ("new.jpg", new, "image/jpeg")}

    def post(target, data=None, with_file=False):
        return lambda auth: [requests.post(
            target, data=data or {}, files=files if with_file else None,
            auth=auth, allow_redirects=False).status_code]

    def method(name, target, data=None, **headers):
        return lambda auth: [requests.request(
            name, target, data=data, auth=auth, headers=headers,
            allow_redirects=False).status_code]

    return [
        ("manage_edit", post(image + "/manage_edit", {"title": "changed"},
                             with_file=True)),
        ("manage_upload", post(image + "/manage_upload", with_file=True)),
        ("manage_describe", post(image + "/manage_describe",
                                 {"creator": "changed"})),
        ("manage_retile", post(image + "/manage_retile")),
        ("DELETE", method("DELETE", image)),
        ("PUT", method("PUT", image, new)),
        ("PATCH", method("PATCH", image, new)),
        ("MOVE", method("MOVE", image, Destination="%s/%s/moved"
                        % (url, other))),
        ("COPY", method("COPY", image, Destination="%s/%s/copied"
                        % (url, other))),
        ("PROPPATCH", method("PROPPATCH", image, PROPPATCH,
                             **{"Content-Type": "text/xml"})),
        ("LOCK", method("LOCK", image, LOCK,
                        **{"Content-Type": "text/xml"})),
        ("tus new file", lambda auth: tus_upload(image, new, auth)),
        ("add form", post(container + ADD, {"id": "added"},
                          with_file=True)),
        ("tus add", lambda auth: tus_upload(container, new, auth,
                                            id="added-tus")),
        ("manage_delObjects", post(container + "/manage_delObjects",
                                   {"ids:list": id})),
        ("manage_renameObjects", post(
            container + "/manage_renameObjects",
            {"ids:list": id, "new_ids:list": "renamed"})),
        ("manage_renameObject", post(
            container + "/manage_renameObject",
            {"id": id, "new_id": "renamed"})),
        ("manage_cutObjects", post(container + "/manage_cutObjects",
                                   {"ids:list": id})),
        ("paste it elsewhere", lambda auth: post(
            "%s/%s/manage_pasteObjects" % (url, other),
            {"cb_copy_data": cut_data(folder, id)})(auth)),
        ("paste into its folder", lambda auth: post(
            container + "/manage_pasteObjects",
            {"cb_copy_data": cut_data(other, "small" if other == "pub"
                                      else "secret")})(auth)),
        ("manage_changeProperties", post(
            image + "/manage_changeProperties", {"title": "changed"})),
    ]


WHO = [("editor without View in the private folder", EDITOR, "priv"),
       ("viewer", VIEWER, "pub"),
       ("viewer", VIEWER, "priv"),
       ("anonymous", None, "pub"),
       ("anonymous", None, "priv")]


@pytest.mark.parametrize("who,auth,folder", WHO,
                         ids=["%s-%s" % (w[0].split()[0], w[2]) for w in WHO])
def test_a_user_who_may_not_edit_changes_nothing(site, who, auth, folder):
    id = "secret" if folder == "priv" else "small"
    other = "pub" if folder == "priv" else "priv"
    before = state()
    changed = []
    for name, attempt in change_paths(site, folder, id, other):
        statuses = attempt(auth)
        if state() != before:
            changed.append((name, statuses))
            before = state()
        # refused: a 4xx, never a server error, never a success
        assert all(400 <= s < 500 for s in statuses), (name, statuses)
    assert not changed, "%s changed %s/%s by %s" % (who, folder, id,
                                                    changed)
    assert open_uploads_of(auth[0] if auth else "Anonymous User") == []


def test_the_editor_may_change_what_he_may_see(site):
    """The control: the same ways work for the editor in the public
    folder."""
    before = state()["pub"]["small"]
    new = jpeg(5, (300, 300))
    image = site + "/pub/small"
    r = requests.post(image + "/manage_edit", data={"title": "Edited"},
                      auth=EDITOR, allow_redirects=False)
    assert r.status_code in (200, 303)
    assert state()["pub"]["small"][0] == "Edited"
    assert tus_upload(image, new, EDITOR) == [201, 204]
    after = state()["pub"]["small"]
    assert after[2] == hashlib.sha256(new).hexdigest() != before[2]
    assert tus_upload(site + "/pub", new, EDITOR, id="by-editor") == [201,
                                                                      204]
    assert "by-editor" in state()["pub"]


def test_access_lost_during_an_upload_stops_it(site):
    """The uploader asks at every request, not at the creation only: an
    upload begun while the editor could edit the image does not end in it
    once the folder hides its contents from him."""
    before = state()["pub"]["small"]
    new = jpeg(6, (300, 300))
    r = requests.post(site + "/pub/small/@@zoomify-upload", auth=EDITOR,
                      headers=dict(TUS, **{
                          "Upload-Length": str(len(new)),
                          "Upload-Metadata": metadata(filename="n.jpg")}))
    assert r.status_code == 201
    url = r.headers["Location"]
    half = len(new) // 2
    r = requests.patch(url, data=new[:half], auth=EDITOR, headers=dict(
        TUS, **{"Upload-Offset": "0", "Content-Type": OCTETS}))
    assert r.status_code == 204
    with zope_root() as app:
        for permission in PRIVATE:
            app.pub.manage_permission(permission, ["Manager"], acquire=0)
    r = requests.patch(url, data=new[half:], auth=EDITOR, headers=dict(
        TUS, **{"Upload-Offset": str(half), "Content-Type": OCTETS}))
    assert r.status_code == 401
    assert state()["pub"]["small"] == before


def test_only_those_with_the_download_permission_get_the_original(site):
    """The original takes "Download Zoomify originals" beside View: the
    editor (who may change images) and the viewer get the public JPEG
    where they may view, never the original; the manager gets it."""
    from tests.zope_fixtures import ADMIN
    for folder, id in (("pub", "small"), ("priv", "secret")):
        image = "%s/%s/%s" % (site, folder, id)
        with zope_root(commit=False) as app:
            with open(app[folder][id].original_file(), "rb") as f:
                original = f.read()
        for auth in (EDITOR, VIEWER, None):
            r = requests.get(image + "/download", auth=auth)
            assert r.status_code in (401, 403), (folder, auth)
            assert original not in r.content
        viewer = requests.get(image + "/download.jpg", auth=VIEWER)
        assert viewer.status_code == 200
        assert viewer.headers["Content-Type"] == "image/jpeg"
        r = requests.get(image + "/download", auth=ADMIN)
        assert r.status_code == 200 and r.content == original
