"""The Zoomify tile layout: tiers, grids, tile names, ImageProperties.xml.

The rules are the ones every reader accepts (docs/zoomify-format.txt):
tiers are halved with floor, edge tiles are cropped, tiles are numbered
over all tiers from the smallest one, 256 tiles per TileGroup.
"""

import re

TILES_PER_GROUP = 256  # fixed by the readers, whatever the tile size


def ceil_div(a, b):
    return -(-a // b)


class Layout:
    """The tile pyramid of a width x height image.

    ``tiers`` lists (width, height) from the smallest tier (0) to the full
    image. A tier may have a zero side (a very thin image): it has no tiles.
    """

    def __init__(self, width, height, tile_size=256):
        if width < 1 or height < 1:
            raise ValueError("image has a zero side (%dx%d)" % (width, height))
        if tile_size < 1:
            raise ValueError("tile size must be positive, not %d" % tile_size)
        self.width = width
        self.height = height
        self.tile_size = tile_size
        sizes = [(width, height)]
        while width > tile_size or height > tile_size:
            width, height = width // 2, height // 2
            sizes.append((width, height))
        sizes.reverse()
        self.tiers = sizes
        self.grids = [self._grid(w, h) for w, h in sizes]
        # index of each tier's first tile in the numbering over all tiers
        self.first_index = []
        total = 0
        for cols, rows in self.grids:
            self.first_index.append(total)
            total += cols * rows
        self.num_tiles = total

    def _grid(self, w, h):
        if w == 0 or h == 0:
            return (0, 0)
        return (ceil_div(w, self.tile_size), ceil_div(h, self.tile_size))

    @property
    def num_tiers(self):
        return len(self.tiers)

    def tile_index(self, tier, col, row):
        cols, rows = self.grids[tier]
        return self.first_index[tier] + row * cols + col

    def tile_name(self, tier, col, row):
        group = self.tile_index(tier, col, row) // TILES_PER_GROUP
        return "TileGroup%d/%d-%d-%d.jpg" % (group, tier, col, row)

    def tile_box(self, tier, col, row):
        """(left, top, right, bottom) of a tile inside its tier."""
        w, h = self.tiers[tier]
        t = self.tile_size
        return (col * t, row * t, min(w, (col + 1) * t), min(h, (row + 1) * t))

    def has_tile(self, tier, col, row):
        if not 0 <= tier < len(self.tiers):
            return False
        cols, rows = self.grids[tier]
        return 0 <= col < cols and 0 <= row < rows

    def all_tiles(self):
        """(tier, col, row) of every tile, in Zoomify numbering order."""
        for tier, (cols, rows) in enumerate(self.grids):
            for row in range(rows):
                for col in range(cols):
                    yield tier, col, row

    def tile_names(self):
        return [self.tile_name(*t) for t in self.all_tiles()]

    @property
    def num_groups(self):
        return ceil_div(self.num_tiles, TILES_PER_GROUP)

    def properties_xml(self):
        return image_properties_xml(self.width, self.height, self.num_tiles,
                                    self.tile_size)


def image_properties_xml(width, height, num_tiles, tile_size=256):
    """The bytes of ImageProperties.xml, in the byte format of libvips."""
    return (
        '<IMAGE_PROPERTIES WIDTH="%d" HEIGHT="%d" NUMTILES="%d" '
        'NUMIMAGES="1" VERSION="1.8" TILESIZE="%d" />\n'
        % (width, height, num_tiles, tile_size)
    ).encode("ascii")


# plain decimal numbers, no sign and no leading zero: one tile, one name
_NUMBER = "(0|[1-9][0-9]*)"
_TILE_NAME = re.compile("TileGroup%s/%s-%s-%s[.]jpg" % ((_NUMBER,) * 4))


def parse_tile_name(name):
    """(group, tier, col, row) from 'TileGroupN/T-C-R.jpg', or None.

    Strict: only plain decimal numbers without signs or leading zeros, so
    that one tile has exactly one name.
    """
    match = _TILE_NAME.fullmatch(name)
    if match is None:
        return None
    return tuple(int(n) for n in match.groups())
