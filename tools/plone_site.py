"""make start-plone: the Plone 6.2 Classic UI site "Plone" with the
Zoomify Image add-on, made once in the instance's database. Run by
`zconsole run ETC/zope.conf tools/plone_site.py` (zconsole gives `app`)."""

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from Products.CMFPlone.factory import addPloneSite
from Testing.makerequest import makerequest
from zope.component.hooks import setSite

PROFILES = ("plone.app.contenttypes:default",
            "plonetheme.barceloneta:default",
            "ZoomifyImage.plone:default")


def main(app, site_id="Plone"):
    if site_id in app.objectIds():
        print("make start-plone: the site %s is there" % site_id)
        return
    app = makerequest(app)
    # as the instance's admin (ZOPE_ADMIN, the root's only user)
    users = app.acl_users
    admin = users.getUser(users.getUserNames()[0])
    newSecurityManager(None, admin.__of__(users))
    site = addPloneSite(app, site_id, title="Plone", setup_content=False,
                        extension_ids=PROFILES)
    setSite(None)
    transaction.commit()
    print("make start-plone: made the site %s with Zoomify Image"
          % site.getId())


main(app)  # noqa: F821 (zconsole's)
