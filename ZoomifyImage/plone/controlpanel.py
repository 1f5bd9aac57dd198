"""The site's Zoomify Image settings in Plone: the values zope.conf's
<product-config zoomifyimage> holds for bare Zope (storage, quality,
limits, who gets what of an image), kept in the site's registry
(plone.registry, registry.xml) and edited in Site Setup (controlpanel.xml,
plone.app.registry's form). A field left empty is zope.conf's value.

Each value is checked on save by the same parser as zope.conf's
(config.PARSERS): a bad one is the form's error at that field, and
nothing is saved. config.settings() then gives the site's values over
zope.conf's wherever this site is the current one (site_values below):
in its requests, and in its items' background tiling (site_of)."""

import contextlib

from Acquisition import aq_chain
from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.registry.interfaces import IRegistry
from plone.z3cform import layout
from zope import schema
from zope.component import queryUtility
from zope.component.hooks import getSite
from zope.component.hooks import setSite
from zope.component.interfaces import ISite
from zope.interface import Interface
from zope.schema import ValidationError

from .. import config

PREFIX = "zoomifyimage"


class BadSetting(ValidationError):
    """A value config.py's parser refuses: its reason, at the field."""

    def doc(self):
        return self.args[0]


def checked(name):
    """A field's constraint: config.PARSERS[name], as for zope.conf."""
    def constraint(value):
        if value in (None, ""):
            return True
        try:
            config.PARSERS[name](str(value))
            # the operator's limits too (a site lowers them only)
            config.check_site_values(((name, str(value)),))
        except ValueError as e:
            raise BadSetting(str(e))
        return True
    return constraint


class IZoomifyImageSettings(Interface):
    """The site's defaults (docs/settings.txt says what each does); empty:
    zope.conf's."""

    storage = schema.Choice(
        title="Tile storage",
        description="Where new tiles are kept: zodb, filesystem or s3 (s3 "
                    "needs its bucket in zope.conf). Empty: zope.conf's.",
        values=config.STORAGES,
        required=False, constraint=checked("storage"))
    quality = schema.Int(
        title="JPEG quality of the tiles",
        description="1 to 100. Empty: zope.conf's.",
        required=False, constraint=checked("quality"))
    max_megapixels = schema.Int(
        title="Largest image (megapixels)",
        description="Bigger images are refused. Empty: zope.conf's.",
        required=False, constraint=checked("max_megapixels"))
    max_tiling_memory = schema.TextLine(
        title="Memory one tiling may use",
        description="A size, such as 2GB or 512MB; wider images are "
                    "refused. Empty: zope.conf's.",
        required=False, constraint=checked("max_tiling_memory"))
    background_megapixels = schema.Int(
        title="Tile in the background above (megapixels)",
        description="0: every image in the background. Empty: "
                    "zope.conf's.",
        required=False, constraint=checked("background_megapixels"))
    preview_size = schema.TextLine(
        title="Preview size",
        description="The longer side, in pixels, that those without "
                    "'View Zoomify full resolution' see; 0: the whole "
                    "image. Empty: zope.conf's.",
        required=False, constraint=checked("preview_size"))
    public_download = schema.TextLine(
        title="What viewers may download",
        description="For those who may view an image but not download "
                    "its original: none, tier PIXELS (tier 2000) or iiif "
                    "SIZE (iiif !2000,2000). Empty: zope.conf's.",
        required=False, constraint=checked("public_download"))


NAMES = tuple(IZoomifyImageSettings.names())


def site_values():
    """The current site's own settings as (name, text) pairs for
    config.settings(), or None (no site, or the add-on not installed)."""
    if getSite() is None:
        return None
    registry = queryUtility(IRegistry)
    if registry is None:
        return None
    texts = []
    get = registry.get
    for name in NAMES:
        value = get("%s.%s" % (PREFIX, name))
        if value not in (None, ""):
            texts.append((name, str(value)))
    return tuple(texts)


@contextlib.contextmanager
def site_of(obj, path=None):
    """``obj``'s Plone site as the current site, so that config.settings()
    gives its values: a background worker has none, and loads the item
    by its oid, without the folders above it (so ``path``, the site's
    path as the item last saw it, from the database's root)."""
    if getSite() is not None:
        yield
        return
    site = next((o for o in aq_chain(obj) if ISite.providedBy(o)), None)
    jar = getattr(obj, "_p_jar", None)
    if site is None and path and jar is not None:
        app = jar.root().get("Application")
        found = app.unrestrictedTraverse(path, None) if app else None
        site = found if ISite.providedBy(found) else None
    setSite(site)
    try:
        yield
    finally:
        setSite(None)


def current_site_path():
    site = getSite()
    return site.getPhysicalPath() if ISite.providedBy(site) else None


class SettingsForm(RegistryEditForm):
    schema = IZoomifyImageSettings
    schema_prefix = PREFIX
    label = "Zoomify Image settings"
    description = ("The site's defaults for Zoomify Images; an empty field "
                   "keeps the value of zope.conf's <product-config "
                   "zoomifyimage>.")


SettingsView = layout.wrap_form(SettingsForm, ControlPanelFormWrapper)

# (imported with the ZCML that registers the form: wherever the add-on
# is loaded, a Plone site's own values count)
config.set_site_values(site_values)
