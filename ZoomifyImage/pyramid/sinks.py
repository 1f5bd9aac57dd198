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
import re
import shutil

from .errors import TilingError

TILE_GROUP = re.compile(r"TileGroup\d+$")
TILE = re.compile(r"\d+-\d+-\d+\.jpg$")


def tile_path(folder, name, made):
    """The path of tile ``name`` under ``folder``, its directory made once
    (``made``: the directories made so far). Raises OSError."""
    path = os.path.join(folder, *name.split("/"))
    parent = os.path.dirname(path)
    if parent not in made:
        os.makedirs(parent, exist_ok=True)
        made.add(parent)
    return path


def new_directory(parent, prefix):
    """A new directory with a unique name under ``parent``, made with the
    umask's modes: tempfile.mkdtemp makes 0700, and a web server running
    as another user could then read no tile."""
    for _ in range(100):
        # os.urandom, not secrets: that loads OpenSSL (more memory:
        # benchmarks/README.txt, note secrets-import)
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise FileExistsError("no free name for a directory in %s" % parent)


def foreign_entry(folder):
    """The first thing in ``folder`` that a Zoomify tile set does not
    hold (ImageProperties.xml, TileGroupN/T-C-R.jpg), or None."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == "ImageProperties.xml" and entry.is_file(
                    follow_symlinks=False):
                continue
            if TILE_GROUP.match(entry.name) and entry.is_dir(
                    follow_symlinks=False):
                with os.scandir(entry.path) as tiles:
                    for tile in tiles:
                        if not (TILE.match(tile.name) and tile.is_file(
                                follow_symlinks=False)):
                            return entry.name + "/" + tile.name
                continue
            return entry.name
    return None


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
    as it was (including a previous tile set there). An existing
    destination is replaced only when it is empty or holds a tile set and
    nothing else, unless ``force`` is true.
    """

    def __init__(self, path, force=False):
        self.path = os.path.abspath(path)
        self.force = force
        parent = os.path.dirname(self.path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise TilingError(path, "the output exists and is not a "
                              "directory")
        self.check_replaceable()
        # parents we create are removed again if the run fails
        self.new_parents = []
        folder = parent
        while folder and not os.path.exists(folder):
            self.new_parents.append(folder)
            folder = os.path.dirname(folder)
        try:
            os.makedirs(parent, exist_ok=True)
            self.temp = new_directory(
                parent, ".%s.partial-" % os.path.basename(self.path))
        except OSError as e:
            raise TilingError(path, "cannot write the output directory "
                              "(%s)" % (e.strerror or e))
        self.made = set()

    def check_replaceable(self):
        """Refuse to replace a directory that holds anything but a tile
        set: OUTDIR may be a user's folder given by mistake."""
        if self.force or not os.path.isdir(self.path):
            return
        try:
            found = foreign_entry(self.path)
        except OSError as e:
            raise TilingError(self.path, "cannot read the output directory "
                              "(%s)" % (e.strerror or e))
        if found is not None:
            raise TilingError(self.path, "the output directory is not a "
                              "tile set (it holds %s); give a new or empty "
                              "directory, or --force to replace it" % found)

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
            self.check_replaceable()  # again: tiling may have taken hours
        except TilingError:
            self.abort()
            raise
        try:
            if os.path.exists(self.path):
                old = new_directory(
                    os.path.dirname(self.path),
                    ".%s.old-" % os.path.basename(self.path))
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
