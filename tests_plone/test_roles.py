"""Who may do what with a Zoomify Image, by role and workflow state, on
the workflow the add-on's test site uses: Plone's
simple_publication_workflow (the site's default chain, as a Plone site
made by the add site form has it). Anonymous, a Member, an Editor given
the role locally on the item, a Reviewer and a Manager (site roles), on
a private and on a published item, through the real publisher: the
page, the tiles, ImageProperties.xml, IIIF info.json and a region, the
manifest, the original (our 'Download Zoomify originals') and the edit
form. What each gets is spelt out below, so a change of the workflow or
of our permissions shows here."""

import transaction
from plone import api

from tests_plone.helpers import PASSWORD
from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status

USERS = ("anonymous", "member", "editor", "reviewer", "manager")

PARTS = {
    "page": "",
    "tile": "/TileGroup0/0-0-0.jpg",
    "properties": "/ImageProperties.xml",
    "info": "/iiif/info.json",
    "region": "/iiif/0,0,300,200/150,/0/default.jpg",
    "manifest": "/manifest.json",
    "download": "/download",
    "edit": "/edit",
}
SEE = ("page", "tile", "properties", "info", "region", "manifest")

# simple_publication_workflow: private is seen by the owner, Manager,
# Site Administrator, Editor and Reader (so not a Reviewer: he sees it
# once it is pending); published by everyone. Editing: the owner, Editor,
# Manager and Site Administrator in both states. The original: 'Download
# Zoomify originals' (Manager, Site Administrator, Owner) and View.
MAY = {
    ("private", "anonymous"): (),
    ("private", "member"): (),
    ("private", "editor"): SEE + ("edit",),
    ("private", "reviewer"): (),
    ("private", "manager"): SEE + ("edit", "download"),
    ("published", "anonymous"): SEE,
    ("published", "member"): SEE,
    ("published", "editor"): SEE + ("edit",),
    ("published", "reviewer"): SEE,
    ("published", "manager"): SEE + ("edit", "download"),
}


def make_users(portal):
    acl = portal.acl_users
    acl.userFolderAddUser("member", PASSWORD, ["Member"], [])
    acl.userFolderAddUser("editor", PASSWORD, ["Member"], [])
    acl.userFolderAddUser("reviewer", PASSWORD, ["Member", "Reviewer"], [])
    acl.userFolderAddUser("manager", PASSWORD, ["Member", "Manager"], [])


def check(b, user, state, part, url, allowed):
    """What is wrong with the answer to ``user`` for ``part``, or None."""
    b.open(url + PARTS[part])
    code = status(b)
    cache = b.headers.get("Cache-Control", "")
    where = b.headers.get("Location", "")
    if allowed:
        if code != 200:
            return "%d %r, not 200" % (code, where)
        if part == "edit":
            # the form locks the item (the locking behavior): the next
            # user would be sent to the view; Cancel unlocks, as a user
            b.getControl("Cancel").click()
            return None
        # what anonymous may not see never goes to shared caches; what
        # he sees of a published item (the same for all) may
        if part == "download" or state == "private":
            if not cache.startswith("private"):
                return "Cache-Control %r, not private" % cache
        elif part == "page":
            if "private" in cache:
                return "Cache-Control %r on a public page" % cache
        elif not cache.startswith("public"):
            return "Cache-Control %r, not public" % cache
        return None
    if part in ("page", "edit"):
        # Plone's own: anonymous goes to the login form, a user who is
        # logged in is told he may not (Plone's insufficient privileges)
        if user == "anonymous":
            if code != 302 or "require_login" not in where:
                return "%d %r, not a redirect to the login form" % (
                    code, where)
        elif code not in (302, 401, 403) or where and \
                "require_login" not in where:
            return "%d %r, not refused" % (code, where)
        return None
    # the pyramid and the original: a refusal a IIIF client or a viewer
    # can tell from content, never the login form, never shared
    if code not in (401, 403) or where:
        return "%d %r, not 401/403" % (code, where)
    if user == "anonymous" and code != 401:
        return "%d, not 401 for anonymous" % code
    if not cache.startswith("private"):
        return "Cache-Control %r on the refusal, not private" % cache
    return None


def test_each_role_on_a_private_and_a_published_item(functional):
    app, portal = functional["app"], functional["portal"]
    assert portal.portal_workflow.getDefaultChain() == (
        "simple_publication_workflow",)
    make_users(portal)
    items = {"private": add_item(portal, id="private"),
             "published": add_item(portal, id="published",
                                   state="published")}
    for item in items.values():
        # Editor: a local role on the item (the Sharing tab's "Can edit")
        api.user.grant_roles(username="editor", obj=item, roles=["Editor"])
        item.reindexObjectSecurity()
    transaction.commit()
    assert api.content.get_state(items["private"]) == "private"
    wrong = []
    for user in USERS:
        b = browser(app, None if user == "anonymous" else user)
        for state, item in items.items():
            url = item.absolute_url()
            for part in PARTS:
                allowed = part in MAY[state, user]
                problem = check(b, user, state, part, url, allowed)
                if problem:
                    wrong.append("%s, %s item, %s: %s" % (
                        user, state, part, problem))
    assert not wrong, "\n".join(wrong)


def test_a_validator_of_a_private_part_gets_no_304(functional):
    """Anonymous who has an owner's ETag and date of a private item's
    part (a shared proxy, a leaked URL) is refused, not told 'not
    modified'."""
    app, portal = functional["app"], functional["portal"]
    url = add_item(portal).absolute_url()
    owner = browser(app, "owner")
    for part in ("tile", "info", "region", "manifest", "download"):
        owner.open(url + PARTS[part])
        assert status(owner) == 200, part
        anonymous = browser(app)
        anonymous.addHeader("If-None-Match", owner.headers["ETag"])
        anonymous.addHeader("If-Modified-Since",
                            owner.headers["Last-Modified"])
        anonymous.open(url + PARTS[part])
        assert status(anonymous) == 401, part
