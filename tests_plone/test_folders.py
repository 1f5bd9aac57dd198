"""The bare-Zope folder views, FOLDER/collection.json (a IIIF
Presentation 3 Collection) and FOLDER/gallery (docs/collections.txt), on
Plone's folders and the Plone site: they list the Zoomify Image items
and sub-folders the requester may View, by the workflow and local roles,
and nothing else of Plone's content."""

import json

import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.namedfile.file import NamedBlobImage

from tests_plone.helpers import PASSWORD
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg


def make(container, type, id, title, state=None, **fields):
    if type == "ZoomifyImage":
        fields["image"] = NamedBlobImage(jpeg(300, 200),
                                         filename=id + ".jpg")
    obj = api.content.create(container=container, type=type, id=id,
                             title=title, **fields)
    if state:
        api.content.transition(obj=obj, to_state=state)
    return obj


def ids_in_collection(doc):
    return sorted(i["id"].rsplit("/", 2)[-2] for i in doc["items"])


def test_collection_and_gallery_of_plone_folders(functional):
    app, portal = functional["app"], functional["portal"]
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        maps = make(portal, "Folder", "maps", "Maps", "published")
        make(maps, "ZoomifyImage", "open", "Open map", "published")
        make(maps, "ZoomifyImage", "closed", "Closed map")
        make(maps, "Document", "page", "A page", "published")
        sub = make(maps, "Folder", "sub", "Sub maps", "published")
        make(sub, "ZoomifyImage", "inner", "Inner map", "published")
        make(maps, "Folder", "hidden", "Hidden maps")
    portal.acl_users.userFolderAddUser("member", PASSWORD, ["Member"], [])
    portal.acl_users.userFolderAddUser("editor", PASSWORD, ["Member"], [])
    # Editor on the folder: the Sharing tab's "Can edit", inherited
    api.user.grant_roles(username="editor", obj=maps, roles=["Editor"])
    maps.reindexObjectSecurity()
    transaction.commit()
    url = maps.absolute_url()
    seen = {  # what each may View in Maps
        None: ["open", "sub"],
        "member": ["open", "sub"],
        "editor": ["closed", "hidden", "open", "sub"],
        "owner": ["closed", "hidden", "open", "sub"],
    }
    for user, expected in seen.items():
        b = browser(app, user)
        b.open(url + "/collection.json")
        assert status(b) == 200, user
        doc = json.loads(b.contents)
        assert doc["type"] == "Collection" and doc["label"] == {
            "none": ["Maps"]}
        assert ids_in_collection(doc) == expected, user
        kinds = {i["id"].rsplit("/", 2)[-2]: i["type"] for i in doc["items"]}
        assert kinds["open"] == "Manifest" and kinds["sub"] == "Collection"
        # the private item (and folder) make it no one else's
        assert b.headers["Cache-Control"].startswith("private"), user
        b.open(url + "/gallery")
        assert status(b) == 200, user
        for title, listed in (("Open map", "open" in expected),
                              ("Closed map", "closed" in expected),
                              ("Hidden maps", "hidden" in expected)):
            assert (title in b.contents) == listed, (user, title)
        assert "A page" not in b.contents
    # the gallery's thumbnail is a stored tier, through the item's IIIF
    anonymous = browser(app)
    anonymous.open(url + "/gallery")
    thumb = anonymous.contents.split('src="/plone/maps/open/')[1].split(
        '"')[0]
    anonymous.open(url + "/open/" + thumb.replace("&amp;", "&"))
    assert status(anonymous) == 200
    assert anonymous.headers["Content-Type"] == "image/jpeg"
    # a sub-folder anonymous sees whole: public and open to other sites
    anonymous.open(sub.absolute_url() + "/collection.json")
    assert ids_in_collection(json.loads(anonymous.contents)) == ["inner"]
    assert anonymous.headers["Cache-Control"].startswith("public")
    assert anonymous.headers["Access-Control-Allow-Origin"] == "*"
    # a private folder's collection, asked by anonymous (a IIIF client):
    # a 401 it can tell from a collection, never a login page, never
    # shared; its gallery is a page: Plone's login form
    anonymous.open(url + "/hidden/collection.json")
    assert status(anonymous) == 401
    assert "Location" not in anonymous.headers
    assert anonymous.headers["Cache-Control"].startswith("private")
    anonymous.open(url + "/hidden/gallery")
    assert status(anonymous) == 302
    assert "require_login" in anonymous.headers["Location"]
    # the site itself: its content folders, not its tools (acl_users,
    # portal_catalog... are OFS folders too, and anonymous may View most)
    anonymous.open(portal.absolute_url() + "/collection.json")
    assert ids_in_collection(json.loads(anonymous.contents)) == ["maps"]
    anonymous.open(portal.absolute_url() + "/gallery")
    links = anonymous.contents.count('/gallery"')
    assert 'href="/plone/maps/gallery"' in anonymous.contents
    assert "acl_users" not in anonymous.contents
    assert "portal_" not in anonymous.contents
    assert links == 1, links  # no "up" out of the site to Zope's root
    assert 'id="zoomify-gallery-up"' not in anonymous.contents
    anonymous.open(url + "/gallery")
    assert 'href="/plone/gallery" id="zoomify-gallery-up"' in \
        anonymous.contents
