"""IIIF Image API 3.0 image requests: {region}/{size}/{rotation}/
{quality}.{format} read into whole pixels, checked as the spec asks
(400 for bad syntax and impossible requests, 501 for IIIF formats this
server does not make). No Zope and no pixels here."""

import math
import re
from collections import namedtuple

# JPEG's largest side (libjpeg): the maxWidth/maxHeight of every image
MAX_SIDE = 65500
WEBP_MAX_SIDE = 16383
SIDE_LIMITS = {"jpg": MAX_SIDE, "png": MAX_SIDE, "webp": WEBP_MAX_SIDE}

FORMATS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# formats the spec defines that we do not make: a valid request that is
# not implemented (an unknown format is a bad request)
OTHER_FORMATS = ("tif", "gif", "jp2", "pdf")
QUALITIES = ("default", "color", "gray", "bitonal")

# short numbers only: nothing turns into inf or takes long to convert
_INT = re.compile(r"[0-9]{1,10}")
_FLOAT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10})?")

ImageRequest = namedtuple(
    "ImageRequest", "region size mirror angle quality format canonical")


class IIIFError(Exception):
    def __init__(self, status, message, retry_after=30):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds, for a 503


def bad(message):
    return IIIFError(400, message)


def parse(segments, width, height, max_area):
    """The four path segments of an image request -> ImageRequest."""
    region_text, size_text, rotation_text, last = segments
    quality, dot, fmt = last.rpartition(".")
    if not dot:
        raise bad("the last segment must be {quality}.{format}")
    if quality not in QUALITIES:
        raise bad("unknown quality %r (default, color, gray, bitonal)"
                  % quality)
    region = parse_region(region_text, width, height)
    size = parse_size(size_text, region[2], region[3], max_area)
    mirror, angle = parse_rotation(rotation_text)
    if angle % 90:
        # level 2 needs multiples of 90 only; any other angle's bounding
        # box has up to twice the pixels, and the corners to fill
        raise IIIFError(501, "rotation by %s degrees is not done here "
                        "(0, 90, 180, 270)" % rotation_text)
    if fmt not in FORMATS:
        if fmt in OTHER_FORMATS:
            raise IIIFError(501, "format %s is not made here (jpg, png, "
                            "webp)" % fmt)
        raise bad("unknown format %r" % fmt)
    # what the encoder can write, before any work (a turn by 90 degrees
    # keeps the longest side)
    if max(size) > SIDE_LIMITS[fmt]:
        raise bad("a %s image is at most %d pixels a side"
                  % (fmt, SIDE_LIMITS[fmt]))
    canonical = "/".join([
        canonical_region(region, width, height),
        canonical_size(size, region, max_area),
        ("!" if mirror else "") + _number(angle),
        "%s.%s" % (quality, fmt)])
    return ImageRequest(region, size, mirror, angle, quality, fmt, canonical)


# ---------------------------------------------------------------- region

def parse_region(text, width, height):
    """(x, y, w, h) in pixels of the full image, cut at its edges."""
    if text == "full":
        return (0, 0, width, height)
    if text == "square":
        side = min(width, height)
        return ((width - side) // 2, (height - side) // 2, side, side)
    if text.startswith("pct:"):
        x, y, w, h = _numbers(text[4:], 4, _FLOAT, "region")
        if w <= 0 or h <= 0:
            raise bad("the region is empty")
        left, right = x * width / 100, (x + w) * width / 100
        top, bottom = y * height / 100, (y + h) * height / 100
        x, y = _round(left), _round(top)
        # a tiny but non-zero percentage is at least one pixel
        w = max(1, _round(right) - x)
        h = max(1, _round(bottom) - y)
    else:
        x, y, w, h = _numbers(text, 4, _INT, "region")
        if w <= 0 or h <= 0:
            raise bad("the region is empty")
    if x >= width or y >= height:
        raise bad("the region is outside the image (%dx%d)"
                  % (width, height))
    return (x, y, min(w, width - x), min(h, height - y))


def canonical_region(region, width, height):
    if region == (0, 0, width, height):
        return "full"
    return "%d,%d,%d,%d" % region


# ------------------------------------------------------------------ size

def max_size(w, h, max_area, upscale=False):
    """The largest (w, h) within maxArea and MAX_SIDE keeping the aspect
    ratio; never above (w, h) unless upscale (^max). Rounds down so that
    the limits hold."""
    scale = min(math.sqrt(max_area / (w * h)), MAX_SIDE / w, MAX_SIDE / h)
    if not upscale:
        scale = min(scale, 1.0)
    if scale == 1.0:
        return w, h
    return max(1, int(w * scale)), max(1, int(h * scale))


def parse_size(text, rw, rh, max_area):
    """(width, height) of the returned image for a region of rw x rh."""
    upscale = text.startswith("^")
    body = text[1:] if upscale else text
    if body == "max":
        return _checked(max_size(rw, rh, max_area, upscale), max_area)
    if body.startswith("pct:"):
        (n,) = _numbers(body[4:], 1, _FLOAT, "size")
        if n > 100 and not upscale:
            raise bad("pct:%s is above 100%%: upscaling needs ^" % body[4:])
        size = (_round(rw * n / 100), _round(rh * n / 100))
    elif body.startswith("!"):
        w, h = _numbers(body[1:], 2, _INT, "size")
        if w == 0 or h == 0:
            raise bad("the size is empty")
        scale = min(w / rw, h / rh)
        if scale > 1 and not upscale:
            # the spec would allow the region's own size here; we answer
            # as Cantaloupe and IIPImage do (and iiif-validator checks)
            raise bad("!%d,%d would upscale the region (%dx%d): use ^!"
                      % (w, h, rw, rh))
        if w / rw <= h / rh:
            size = (w, _round(rh * w / rw))
        else:
            size = (_round(rw * h / rh), h)
        if min(size) < 1:  # a thin region's other side rounds to 0
            raise bad("the image would be less than one pixel")
        # as large as possible within the server's limits as well
        limit = max_size(*size, max_area)
        return _checked(limit, max_area)
    else:
        parts = body.split(",")
        if len(parts) != 2 or parts == ["", ""]:
            raise bad("unknown size %r" % text)
        w, h = (_number_of(p, _INT, "size") if p else None for p in parts)
        if w is None:
            size = (_round(rw * h / rh), h)
        elif h is None:
            size = (w, _round(rh * w / rw))
        else:
            size = (w, h)
        if (w == 0 or h == 0):
            raise bad("the size is empty")
    if not upscale and (size[0] > rw or size[1] > rh):
        raise bad("%s is larger than the region (%dx%d): upscaling needs ^"
                  % (text, rw, rh))
    return _checked(size, max_area)


def _checked(size, max_area):
    w, h = size
    if w < 1 or h < 1:
        raise bad("the image would be less than one pixel")
    if w * h > max_area or max(w, h) > MAX_SIDE:
        raise bad("%dx%d is above this server's limits (maxArea %d, "
                  "maxWidth %d)" % (w, h, max_area, MAX_SIDE))
    return size


def canonical_size(size, region, max_area):
    rw, rh = region[2:]
    if size == max_size(rw, rh, max_area):
        return "max"
    up = "^" if size[0] > rw or size[1] > rh else ""
    return "%s%d,%d" % (up, size[0], size[1])


# -------------------------------------------------------------- rotation

def parse_rotation(text):
    """(mirror, degrees clockwise in [0, 360))."""
    mirror = text.startswith("!")
    angle = _number_of(text[1:] if mirror else text, _FLOAT, "rotation")
    if angle > 360:
        raise bad("rotation %s is above 360" % text)
    return mirror, angle % 360


# --------------------------------------------------------------- helpers

def _numbers(text, count, pattern, what):
    parts = text.split(",")
    if len(parts) != count:
        raise bad("%s needs %d numbers, not %r" % (what, count, text))
    return [_number_of(p, pattern, what) for p in parts]


def _number_of(text, pattern, what):
    if not pattern.fullmatch(text):
        raise bad("bad number %r in the %s" % (text, what))
    return int(text) if pattern is _INT else float(text)


def _round(value):
    return int(math.floor(value + 0.5))


def _number(value):
    # integers where possible, as the spec's canonical form asks
    return "%d" % value if value == int(value) else ("%.10f" % value).rstrip(
        "0")
