"""IIIF Change Discovery on a Plone site: the site's @@iiif-activity
lists a Zoomify Image as Create once published (anonymous may see it),
Update when its image changes, and Delete once retracted or deleted."""

import json

import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.namedfile.file import NamedBlobImage

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.images import jpeg


def activities(app):
    anonymous = browser(app)
    anonymous.open("http://nohost/plone/@@iiif-activity?page=0")
    return [(a["type"], a["object"]["id"].replace("http://nohost", ""))
            for a in json.loads(anonymous.contents)["orderedItems"]]


def test_publish_retract_delete_in_the_feed(functional):
    app, portal = functional["app"], functional["portal"]
    manifest = "/plone/map/manifest.json"
    item = add_item(portal)  # private: not in the feed
    assert activities(app) == []
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        api.content.transition(obj=item, to_state="published")
    transaction.commit()
    assert activities(app) == [("Create", manifest)]
    # a new image: new tiles, an Update
    item.image = NamedBlobImage(jpeg(320, 200), filename="new.jpg")
    from zope.lifecycleevent import modified
    modified(item)
    transaction.commit()
    assert activities(app)[-1] == ("Update", manifest)
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        api.content.transition(obj=item, to_state="private")
    transaction.commit()
    assert activities(app)[-1] == ("Delete", manifest)
    # published again, then deleted
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        api.content.transition(obj=item, to_state="published")
    transaction.commit()
    assert activities(app)[-1] == ("Create", manifest)
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        api.content.delete(obj=item)
    transaction.commit()
    assert activities(app)[-1] == ("Delete", manifest)
    assert len(activities(app)) == 5


def test_added_published_is_a_create_renamed_a_delete_and_create(
        functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, id="other", state="published")
    assert activities(app) == [("Create", "/plone/other/manifest.json")]
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        api.content.rename(obj=item, new_id="renamed")
    transaction.commit()
    assert activities(app)[1:] == [("Delete", "/plone/other/manifest.json"),
                                   ("Create", "/plone/renamed/manifest.json")]
