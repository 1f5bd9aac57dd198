"""Upgrade steps of the profile (configure.zcml registers them): one a
metadata.xml version. 1000 -> 1001: the type's FTI read again (a new
field or behavior comes in this way)."""

PROFILE = "profile-ZoomifyImage.plone:default"


def reimport_type(context):
    context.runImportStepFromProfile(PROFILE, "typeinfo")


def add_settings(context):
    """1001 -> 1002: the site's settings (controlpanel.py) and their
    control panel."""
    context.runImportStepFromProfile(PROFILE, "plone.app.registry")
    context.runImportStepFromProfile(PROFILE, "controlpanel")
