"""Upgrade steps of the profile (configure.zcml registers them): one a
metadata.xml version. 1000 -> 1001: the type's FTI read again (a new
field or behavior comes in this way)."""

PROFILE = "profile-ZoomifyImage.plone:default"


def reimport_type(context):
    context.runImportStepFromProfile(PROFILE, "typeinfo")
