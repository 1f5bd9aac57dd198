"""The one exception the tiler raises for bad input or a bad destination."""


class TilingError(Exception):
    """An image could not be tiled; the message says which file and why."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__("%s: %s" % (self.path, problem))
