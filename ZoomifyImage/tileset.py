"""The tile set an image serves, as one immutable value: what serving,
IIIF and the viewer read of an image with a pyramid (interfaces.py,
IDeepZoomImage.tile_set), taken once per request so that every answer
of it speaks of the same set. Made by serving.tile_set_of."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TileSet:
    set_id: str       # names the set: the ETag's tail, the viewer's ?v=
    layout: object    # a pyramid.Layout, or None while there is no set
    store: object     # the ITileStore holding it, or None
    etag: str         # the strong ETag of its tiles ("zi-KEY-SET")
    tiled_at: float   # when it was made (Last-Modified)
    public: bool      # anonymous may view it: shared caches, CORS
    key: str          # the image in ETags: never its uid (serving.image_key)
    limit: int = 0    # its preview size: who lacks full resolution sees
    #                   the pyramid cut there (resolution.py); 0: none
