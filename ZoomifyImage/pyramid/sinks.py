"""Tile sinks: where the tiler puts what it makes.

A sink takes ``put(name, data)`` for every tile and for ImageProperties.xml
(names are relative, with '/' separators), then ``finish()`` on success or
``abort()`` on failure. Nothing written may be visible as a tile set
before ``finish()``; after ``abort()`` the destination is as it was.

A sink whose tiles are files may also answer ``file_for(name)`` with the
path to write a tile to: the encoder threads then write the file
themselves, instead of the calling thread writing the bytes.
"""

import os
import shutil
import tempfile

from .errors import TilingError


def tile_path(folder, name, made):
    """The path of tile ``name`` under ``folder``, its directory made once
    (``made``: the directories made so far). Raises OSError."""
    path = os.path.join(folder, *name.split("/"))
    parent = os.path.dirname(path)
    if parent not in made:
        os.makedirs(parent, exist_ok=True)
        made.add(parent)
    return path


class TileSink:
    """The interface (the Zope stores implement the same three methods)."""

    def put(self, name, data):
        raise NotImplementedError

    def file_for(self, name):
        """A path to write the tile to directly, or None: then put()."""
        return None

    def finish(self):
        pass

    def abort(self):
        pass


class DirectorySink(TileSink):
    """Writes a Zoomify directory that any web server can serve as is.

    The tiles go into a temporary directory beside the destination, which
    is renamed into place at the end; a failed run leaves the destination
    as it was (including a previous tile set there).
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        parent = os.path.dirname(self.path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise TilingError(path, "the output exists and is not a "
                              "directory")
        # parents we create are removed again if the run fails
        self.new_parents = []
        folder = parent
        while folder and not os.path.exists(folder):
            self.new_parents.append(folder)
            folder = os.path.dirname(folder)
        try:
            os.makedirs(parent, exist_ok=True)
            self.temp = tempfile.mkdtemp(
                prefix=".%s.partial-" % os.path.basename(self.path),
                dir=parent)
        except OSError as e:
            raise TilingError(path, "cannot write the output directory "
                              "(%s)" % (e.strerror or e))
        self.made = set()

    def file_for(self, name):
        try:
            return tile_path(self.temp, name, self.made)
        except OSError as e:
            raise TilingError(self.path, "cannot write %s (%s)"
                              % (name, e.strerror or e))

    def put(self, name, data):
        target = self.file_for(name)
        try:
            with open(target, "wb") as f:
                f.write(data)
        except OSError as e:
            raise TilingError(self.path, "cannot write %s (%s)"
                              % (name, e.strerror or e))

    def finish(self):
        old = None
        try:
            if os.path.exists(self.path):
                old = tempfile.mkdtemp(
                    prefix=".%s.old-" % os.path.basename(self.path),
                    dir=os.path.dirname(self.path))
                os.rename(self.path, os.path.join(old, "set"))
            os.rename(self.temp, self.path)
        except OSError as e:
            if old and not os.path.exists(self.path):
                os.rename(os.path.join(old, "set"), self.path)
            self.abort()
            raise TilingError(self.path, "cannot move the tiles into place "
                              "(%s)" % (e.strerror or e))
        finally:
            if old:
                shutil.rmtree(old, ignore_errors=True)

    def abort(self):
        shutil.rmtree(self.temp, ignore_errors=True)
        for folder in self.new_parents:
            try:
                os.rmdir(folder)
            except OSError:
                break


class MemorySink(TileSink):
    """Keeps tiles in a dict (tests, small images)."""

    def __init__(self):
        self.tiles = {}
        self.finished = False

    def put(self, name, data):
        self.tiles[name] = data

    def finish(self):
        self.finished = True

    def abort(self):
        self.tiles.clear()
