"""ZoomifyImage: very large images as Zoomify deep-zoom tiles in Zope.

The tiler (ZoomifyImage.pyramid) imports nothing from Zope; the product
parts below are loaded by Zope through configure.zcml.
"""


def initialize(context):
    from .content import AddZoomifyImages
    from .content import ZoomifyImage
    from .content import manage_addZoomifyImage
    from .content import manage_addZoomifyImageForm

    context.registerClass(
        ZoomifyImage,
        permission=AddZoomifyImages,
        constructors=(manage_addZoomifyImageForm, manage_addZoomifyImage),
    )
