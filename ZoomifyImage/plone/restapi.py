"""plone.restapi: an item's JSON carries what a client (a Volto view, a
IIIF tool) needs of its pyramid under "zoomify": the tiling status and
progress, the tile set's URL, the IIIF info.json and the manifest."""

from plone.restapi.interfaces import ISerializeToJson
from plone.restapi.serializer.dxcontent import SerializeToJson
from zope.component import adapter
from zope.interface import Interface
from zope.interface import implementer

from .. import viewer as pages
from .interfaces import IZoomifyImageItem


def zoomify_json(item):
    status = item.current_status()
    url = item.absolute_url()
    progress = item.progress()
    ready = status == "ready"
    return {
        "status": status,
        "progress": {"done": progress[0], "total": progress[1]}
        if progress else None,
        "width": item.width if ready else None,
        "height": item.height if ready else None,
        "tile_size": item.tile_size,
        "tiles_url": pages.tiles_url(item) if ready else None,
        "image_properties": url + "/ImageProperties.xml" if ready else None,
        "iiif_info": url + "/iiif/info.json" if ready else None,
        "manifest": url + "/manifest.json" if ready else None,
    }


@implementer(ISerializeToJson)
@adapter(IZoomifyImageItem, Interface)
class ZoomifyImageSerializer(SerializeToJson):

    def __call__(self, version=None, include_items=True):
        result = super().__call__(version=version,
                                  include_items=include_items)
        result["zoomify"] = zoomify_json(self.context)
        return result


# A request with "Accept: application/json" (a IIIF client asking for
# info.json or the manifest) is a REST API request to plone.rest, whose
# traversal answers 404 for any name below an item that is neither
# content nor a service. The pyramid's names are therefore also the
# item's GET services for that Accept: each gives what the item's own
# traversal gives (the same objects, permissions and 401s). TileGroupN
# is not among them: tiles are asked for as images, never as JSON.
def _pyramid_name(name):
    def service(item, request):
        return item.__bobo_traverse__(request, name)
    return service


iiif = _pyramid_name("iiif")
manifest = _pyramid_name("manifest.json")
image_properties = _pyramid_name("ImageProperties.xml")
versioned = _pyramid_name("v")
# (download is a view: plone.rest finds it by its name)
