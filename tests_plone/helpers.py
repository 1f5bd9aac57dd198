"""What the Plone tests share: items made through the API, browsers as
the site's users (through the real publisher)."""

import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.namedfile.file import NamedBlobImage
from plone.testing.zope import Browser

from tests_plone.images import jpeg

PASSWORD = "secret-secret"
ROLES = ("Member", "Editor", "Reviewer", "Manager")


def add_item(portal, id="map", title="A map", data=None, state=None,
             **fields):
    """A Zoomify Image in the portal, committed."""
    with api.env.adopt_user(username=SITE_OWNER_NAME):
        item = api.content.create(
            container=portal, type="ZoomifyImage", id=id, title=title,
            image=NamedBlobImage(data or jpeg(), filename=id + ".jpg"),
            **fields)
        if state:
            api.content.transition(obj=item, to_state=state)
    transaction.commit()
    return item


def add_users(portal):
    """One user a global role (ROLES), named after it, committed."""
    for role in ROLES:
        portal.acl_users.userFolderAddUser(
            role.lower(), PASSWORD, ["Member", role], [])
    transaction.commit()


def browser(app, user=None):
    """A testbrowser that shows errors as answers (401, 404...)."""
    b = Browser(app)
    b.handleErrors = True
    b.raiseHttpErrors = False
    b.followRedirects = False
    if user == "owner":
        b.addHeader("Authorization", "Basic %s:%s"
                    % (SITE_OWNER_NAME, SITE_OWNER_PASSWORD))
    elif user:
        b.addHeader("Authorization", "Basic %s:%s" % (user, PASSWORD))
    return b


def status(b):
    return int(b.headers["status"].split()[0])
