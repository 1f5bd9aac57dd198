"""The workflow decides who sees a Zoomify Image's tiles, IIIF, manifest
and original: exactly who may view the item. A private item's parts
answer 401 to anonymous (no redirect to the login form) and are never
publicly cacheable; once published they are public and cacheable."""

import transaction
from plone import api

from tests_plone.helpers import add_item
from tests_plone.helpers import add_users
from tests_plone.helpers import browser
from tests_plone.helpers import status

PARTS = ("/ImageProperties.xml", "/TileGroup0/0-0-0.jpg", "/iiif/info.json",
         "/iiif/full/max/0/default.jpg", "/manifest.json")

# the original's bytes under plone.namedfile's views of the file field
ORIGINAL_NAMES = ("/@@download/image", "/@@download/image/map.jpg",
                  "/@@display-file/image", "/@@images/image",
                  "/@@images/image/original")


def test_private_parts_answer_401_to_anonymous(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal)
    assert api.content.get_state(item) == "private"
    url = item.absolute_url()
    anonymous = browser(app)
    for part in PARTS:
        anonymous.open(url + part)
        assert status(anonymous) == 401, part
        assert "Location" not in anonymous.headers, part
        assert anonymous.headers["Cache-Control"].startswith("private"), part
        assert "Access-Control-Allow-Origin" not in anonymous.headers
    anonymous.open(url + "/download")
    assert status(anonymous) == 401 and "Location" not in anonymous.headers
    assert anonymous.headers["Cache-Control"].startswith("private")
    # the page itself: Plone's login form, as for any private item
    anonymous.open(url)
    assert status(anonymous) == 302
    assert "require_login" in anonymous.headers["Location"]
    # the owner sees them, never publicly cacheable
    owner = browser(app, "owner")
    for part in PARTS + ("/download",):
        owner.open(url + part)
        assert status(owner) == 200, part
        assert owner.headers["Cache-Control"].startswith("private"), part


def test_published_parts_are_public_and_cacheable(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, state="published")
    url = item.absolute_url()
    anonymous = browser(app)
    for part in PARTS:
        anonymous.open(url + part)
        assert status(anonymous) == 200, part
        assert anonymous.headers["Cache-Control"].startswith("public"), part
    anonymous.open(url + "/TileGroup0/0-0-0.jpg")
    assert anonymous.headers["Access-Control-Allow-Origin"] == "*"
    anonymous.open(url)
    assert status(anonymous) == 200
    assert 'id="zoomify-viewer"' in anonymous.contents
    # the original: "Download Zoomify originals", the owner's and the
    # managers' unless the site gives it to more (as the Zope class)
    assert 'id="zoomify-download"' not in anonymous.contents
    anonymous.open(url + "/download")
    assert status(anonymous) == 401
    # nor under plone.namedfile's names for the file field
    for name in ORIGINAL_NAMES:
        anonymous.open(url + name)
        code = status(anonymous)
        assert code in (401, 404) or code == 302 and "require_login" in \
            anonymous.headers["Location"], (name, code)
        assert anonymous.contents[:2] != "\xff\xd8", name
    # while Plone's scales (made from the tiles) stay public
    anonymous.open(url + "/@@images/image/thumb")
    assert status(anonymous) == 200
    assert anonymous.headers["Content-Type"] == "image/jpeg"
    portal.manage_permission("Download Zoomify originals",
                             ["Anonymous"], acquire=True)
    transaction.commit()
    anonymous.open(url + "/download")
    assert status(anonymous) == 200
    assert anonymous.headers["Cache-Control"].startswith("public")
    # retracted: private again at once
    with api.env.adopt_roles(["Manager"]):
        api.content.transition(obj=item, to_state="private")
    transaction.commit()
    anonymous.open(url + "/TileGroup0/0-0-0.jpg")
    assert status(anonymous) == 401


def test_each_role_sees_the_parts_as_it_sees_the_item(functional):
    """Member, Editor, Reviewer, Manager (global roles) on a private and a
    published item: the tiles, IIIF, manifest and original answer as the
    item's page does; what simple_publication_workflow gives each role is
    spelt out."""
    app, portal = functional["app"], functional["portal"]
    add_users(portal)
    private = add_item(portal, id="private")
    published = add_item(portal, id="published", state="published")
    expected = {  # may view (and download): private, published
        "member": (False, True), "editor": (True, True),
        "reviewer": (False, True), "manager": (True, True)}
    for user, (sees_private, sees_published) in expected.items():
        b = browser(app, user)
        for item, sees in ((private, sees_private),
                           (published, sees_published)):
            b.open(item.absolute_url())
            page = status(b)
            assert (page == 200) == sees, (user, item.id, page)
            for part in PARTS + ("/download",):
                b.open(item.absolute_url() + part)
                code = status(b)
                if part == "/download":  # the owner's and the managers'
                    sees = user == "manager"
                if sees:
                    assert code == 200, (user, item.id, part, code)
                else:
                    assert code in (401, 403), (user, item.id, part, code)
                    assert "Location" not in b.headers


def test_listings_keep_plones_publication_dates(functional):
    """A published item whose effective date is still to come (an
    embargo), or whose expiration date is past, is left out of the
    folder's IIIF collection and gallery for anonymous, as Plone's own
    listings leave it out; a manager still finds it."""
    from DateTime import DateTime
    app, portal = functional["app"], functional["portal"]
    add_item(portal, id="shown", title="Shown map", state="published")
    future = add_item(portal, id="embargoed", title="Embargoed map",
                      state="published")
    future.setEffectiveDate(DateTime() + 30)
    past = add_item(portal, id="expired", title="Expired map",
                    state="published")
    past.setExpirationDate(DateTime() - 1)
    future.reindexObject()
    past.reindexObject()
    transaction.commit()
    anonymous = browser(app)
    for name in ("/collection.json", "/gallery"):
        anonymous.open(portal.absolute_url() + name)
        assert status(anonymous) == 200, name
        text = _text(anonymous)
        assert "Shown map" in text, name
        for hidden in ("embargoed", "Embargoed map", "expired",
                       "Expired map"):
            assert hidden not in text, (name, hidden)
    owner = browser(app, "owner")
    owner.open(portal.absolute_url() + "/collection.json")
    assert "Embargoed map" in _text(owner)
    assert "private" in owner.headers["Cache-Control"]


def _text(b):
    contents = b.contents
    return contents.decode("utf-8") if isinstance(contents, bytes) \
        else contents
