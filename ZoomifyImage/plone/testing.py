"""plone.app.testing layers with the add-on installed (tests_plone/)."""

from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import applyProfile
from plone.testing import zope as zope_testing
from plone.testing.zope import WSGI_SERVER_FIXTURE


class ZoomifyImagePloneLayer(PloneSandboxLayer):

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import plone.restapi

        import ZoomifyImage
        self.loadZCML(package=plone.restapi)
        self.loadZCML(package=ZoomifyImage)
        zope_testing.installProduct(app, "ZoomifyImage")

    def setUpPloneSite(self, portal):
        # Plone's default workflow (plone.app.testing sets none: without
        # it everything is public)
        portal.portal_workflow.setDefaultChain("simple_publication_workflow")
        applyProfile(portal, "plone.restapi:default")
        applyProfile(portal, "ZoomifyImage.plone:default")


ZOOMIFYIMAGE_PLONE_FIXTURE = ZoomifyImagePloneLayer()
ZOOMIFYIMAGE_PLONE_INTEGRATION_TESTING = IntegrationTesting(
    bases=(ZOOMIFYIMAGE_PLONE_FIXTURE,),
    name="ZoomifyImagePlone:Integration")
ZOOMIFYIMAGE_PLONE_FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(ZOOMIFYIMAGE_PLONE_FIXTURE,),
    name="ZoomifyImagePlone:Functional")
# a real HTTP server on loopback, for Chromium
ZOOMIFYIMAGE_PLONE_ACCEPTANCE_TESTING = FunctionalTesting(
    bases=(ZOOMIFYIMAGE_PLONE_FIXTURE, WSGI_SERVER_FIXTURE),
    name="ZoomifyImagePlone:Acceptance")
