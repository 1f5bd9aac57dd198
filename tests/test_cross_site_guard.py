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


def test_visitors_pages_are_not_management(folder, photo):
    """Another site may embed the viewer and the tiles."""
    add(folder, photo, "p")
    for name in ("p", "p/view", "p/ImageProperties.xml",
                 "p/TileGroup0/0-0-0.jpg"):
        b = fetch("%s/%s/%s" % (BASE, folder, name), headers=IMG)
        assert status(b) == 200, name


def test_the_guard_can_be_turned_off(folder, photo):
    add(folder, photo, "p")
    with product_config(**{"cross-site-guard": "off"}):
        b = fetch("%s/%s/manage_delObjects?ids:list=p" % (BASE, folder),
                  login=True, headers=IMG)
    assert status(b) == 200
    assert "p" not in ids(folder)
