"""The exception the tiler raises for bad input or a bad destination, and
its kind for damaged image data."""


class TilingError(Exception):
    """An image could not be tiled; the message says which file and why."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__("%s: %s" % (self.path, problem))


class DamagedImage(TilingError):
    """The image's data is damaged (truncated, or corrupt where a decoder
    could make up pixels); ``detail`` says what the decoder found."""

    def __init__(self, path, detail):
        self.detail = detail
        super().__init__(path, "the image data is damaged: %s" % detail)
