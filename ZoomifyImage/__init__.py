"""ZoomifyImage: very large images as Zoomify deep-zoom tiles in Zope.

The tiler (ZoomifyImage.pyramid) imports nothing from Zope; the product
parts below are loaded by Zope through configure.zcml.
"""


def initialize(context):
    import logging
    # libvips reports every finished thread pool at INFO: keep Zope's log
    # readable
    logging.getLogger("pyvips").setLevel(logging.WARNING)

    from .content import AddZoomifyImages
    from .content import ZoomifyImage
    from .content import manage_addZoomifyImage
    from .content import manage_addZoomifyImageForm

    context.registerClass(
        ZoomifyImage,
        permission=AddZoomifyImages,
        constructors=(manage_addZoomifyImageForm, manage_addZoomifyImage),
    )
