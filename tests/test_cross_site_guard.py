"""Issue 23, M3: no management name of the site (Zope's own included)
runs for a request another site's page made.

Zope publishes changing methods for GET (manage_delObjects,
manage_changeProperties, manage_addProperty): an <img> on another site
would make a logged-in manager's browser delete an image or change its
folder. Browsers say where a request comes from (Sec-Fetch-Site,
Origin); such a request to manage or manage_* is refused with 403 before
it runs. Through the real publisher (zope.testbrowser)."""

from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import fetch
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

IMG = (("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "no-cors"),
       ("Sec-Fetch-Dest", "image"))


def ids(folder):
    with zope_root(commit=False) as app:
        return app[folder].objectIds()


def title(folder):
    with zope_root(commit=False) as app:
        return app[folder].title


def test_an_image_tag_on_another_site_deletes_nothing(folder, photo):
    add(folder, photo, "p")
    url = "%s/%s/manage_delObjects?ids:list=p" % (BASE, folder)
    b = fetch(url, login=True, headers=IMG)
    assert status(b) == 403
    assert "open only from this site" in b.contents
    assert "p" in ids(folder)
    # a form's :method field names the method in the query
    b = fetch("%s/%s?ids:list=p&manage_delObjects:method=x"
              % (BASE, folder), login=True, headers=IMG)
    assert status(b) == 403 and "p" in ids(folder)
    # the same link typed into the address bar, or from our own page
    for own in ((), (("Sec-Fetch-Site", "none"),),
                (("Sec-Fetch-Site", "same-origin"),)):
        if "p" not in ids(folder):
            add(folder, photo, "p")
        b = fetch(url, login=True, headers=own)
        assert status(b) == 200
        assert "p" not in ids(folder)


def test_another_sites_origin_changes_no_property(folder, photo):
    add(folder, photo, "p")
    before = title(folder)
    for headers in (IMG, (("Origin", "http://evil.example"),),
                    (("Origin", "null"),)):
        b = fetch("%s/%s/p/manage_changeProperties?title=x" % (BASE, folder),
                  login=True, headers=headers)
        assert status(b) == 403
        b = fetch("%s/%s/p/manage_addProperty?id=x&value=1&type=string"
                  % (BASE, folder), login=True, headers=headers)
        assert status(b) == 403
    assert title(folder) == before
    with zope_root(commit=False) as app:
        assert not app[folder].hasProperty("x")


VISITOR_NAMES = ("p", "p/view", "p/ImageProperties.xml",
                 "p/TileGroup0/0-0-0.jpg", "p/iiif/info.json",
                 "p/iiif/full/max/0/default.jpg", "p/manifest.json",
                 "p/download.jpg", "p/status_json")


def test_visitors_pages_are_not_management(folder, photo):
    """Another site may embed the viewer and the tiles, and use IIIF."""
    add(folder, photo, "p")
    for name in VISITOR_NAMES:
        b = fetch("%s/%s/%s" % (BASE, folder, name), headers=IMG)
        assert status(b) == 200, name


def test_a_private_images_visitor_is_no_manager(folder, photo):
    """What protects a name counts (View), not who may view it here: the
    pages and tiles of an image anonymous may not view are a visitor's
    too, asked from another site's page by a user who may view it."""
    from AccessControl.Permissions import view
    add(folder, photo, "p")
    with zope_root() as app:
        app[folder].manage_permission(view, ["Manager"], acquire=0)
    for name in VISITOR_NAMES:
        url = "%s/%s/%s" % (BASE, folder, name)
        assert status(fetch(url, headers=IMG)) == 401, name
        assert status(fetch(url, login=True, headers=IMG)) == 200, name


def test_the_guard_can_be_turned_off(folder, photo):
    add(folder, photo, "p")
    with product_config(**{"cross-site-guard": "off"}):
        b = fetch("%s/%s/manage_delObjects?ids:list=p" % (BASE, folder),
                  login=True, headers=IMG)
    assert status(b) == 200
    assert "p" not in ids(folder)


def test_changes_zope_publishes_under_other_names_are_refused(folder,
                                                             photo):
    """Not every changing method of Zope is called manage_*: the user
    folder's setDomainAuthenticationMode (who logs in by address alone),
    an ordered folder's moveObjectsByDelta and a file's ZCacheable_set*
    are published for GET too, and reached through an image by
    acquisition. What a page of another site may ask for is what a
    visitor may (View, Access contents information); the rest is refused
    as management is."""
    from OFS.Image import manage_addFile
    from OFS.OrderedFolder import manage_addOrderedFolder

    from ZoomifyImage.content import manage_addZoomifyImage
    with zope_root() as app:
        manage_addOrderedFolder(app[folder], "ordered")
        manage_addFile(app[folder]["ordered"], "f", b"x")
        with open(photo, "rb") as f:
            manage_addZoomifyImage(app[folder]["ordered"], id="p", file=f)
    image = "%s/%s/ordered/p" % (BASE, folder)

    def state():
        with zope_root(commit=False) as app:
            ordered = app[folder]["ordered"]
            return (getattr(app.acl_users, "_domain_auth_mode", 0),
                    ordered.objectIds(),
                    ordered["f"].ZCacheable_isCachingEnabled(),
                    ordered["f"].ZCacheable_getManagerId())
    before = state()
    changes = (
        image + "/acl_users/setDomainAuthenticationMode?domain_auth_mode=1",
        image + "/moveObjectsByDelta?ids:list=p&delta:int=-1",
        image + "/f/ZCacheable_setEnabled?enabled:int=0",
        image + "/f/ZCacheable_setManagerId?manager_id=x")
    for url in changes:
        b = fetch(url, login=True, headers=IMG)
        assert status(b) == 403, url
        assert state() == before, url
    # typed in (or from our own page), each of them does change something
    for url in changes:
        assert status(fetch(url, login=True)) == 200, url
    assert state() != before


def test_the_browsers_word_is_trusted_over_the_origin(folder, photo):
    """Behind a proxy that changes the scheme or port without
    VirtualHostBase, Zope's own URL and the page's Origin differ; a
    browser that says same-origin is believed (review of issue 23)."""
    import urllib.parse
    add(folder, photo, "p")
    b = fetch("%s/%s/p/manage_main" % (BASE, folder), login=True)
    b.addHeader("Sec-Fetch-Site", "same-origin")
    b.addHeader("Origin", "https://www.example.org")
    b.post("%s/%s/p/manage_edit" % (BASE, folder),
           urllib.parse.urlencode({"title": "Harbour"}),
           "application/x-www-form-urlencoded")
    assert status(b) in (200, 303)
    with zope_root(commit=False) as app:
        assert app[folder]["p"].title == "Harbour"
    # without the browser's word, a foreign Origin is still refused
    b = fetch("%s/%s/p/manage_main" % (BASE, folder), login=True)
    b.addHeader("Origin", "https://www.example.org")
    b.post("%s/%s/p/manage_edit" % (BASE, folder),
           urllib.parse.urlencode({"title": "Other"}),
           "application/x-www-form-urlencoded")
    assert status(b) == 403
