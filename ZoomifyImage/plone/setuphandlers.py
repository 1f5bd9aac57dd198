from plone.base.interfaces import INonInstallable
from zope.interface import implementer

from . import pas


@implementer(INonInstallable)
class HiddenProfiles:
    """The uninstall profile is not offered in the add-ons control panel."""

    def getNonInstallableProfiles(self):
        return ["ZoomifyImage.plone:uninstall"]


def post_install(context):
    pas.install(context)


def post_uninstall(context):
    pas.uninstall(context)
