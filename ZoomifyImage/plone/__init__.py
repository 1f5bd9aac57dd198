"""ZoomifyImage in Plone 6.2 (the `plone` extra): the Dexterity type
"Zoomify Image", its views, scales and REST API. Loaded only where
Products.CMFPlone is installed (../configure.zcml); bare Zope never
imports it."""
