"""The site's Zoomify Image settings (controlpanel.py) in plone.restapi's
@controlpanels/zoomifyimage, for a Volto site or a script: read with GET,
changed with PATCH, checked by the same constraints as the form (a bad
value is a 400 naming its field and why, nothing saved)."""

from plone.restapi.controlpanels import RegistryConfigletPanel
from zope.component import adapter
from zope.interface import Interface

from .controlpanel import PREFIX
from .controlpanel import IZoomifyImageSettings
from .interfaces import IZoomifyImageLayer


# (the add-on's layer: only where the profile is installed)
@adapter(Interface, IZoomifyImageLayer)
class SettingsPanel(RegistryConfigletPanel):
    schema = IZoomifyImageSettings
    schema_prefix = PREFIX
    configlet_id = "zoomifyimage"
    configlet_category_id = "Products"
