"""Photoshop documents: no engine of ours streams them. Pillow decodes a
PSD (its merged image) whole, under the pixel budget; libvips reads PSD
and PSB only through ImageMagick, which the pyvips binary wheel lacks.
What is left is saying so in one line, with the way out."""

from ..errors import TilingError

SAVE_AS = "save it from Photoshop as a TIFF or BigTIFF, which is streamed"


def psd_version(path):
    """1 for a PSD, 2 for a PSB (large document format), else None."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:4] == b"8BPS" and head[4:6] in (b"\x00\x01", b"\x00\x02"):
        return head[5]
    return None


def refuse_psb(path):
    raise TilingError(path, "a Photoshop large document (PSB), which no "
                      "installed engine reads (Pillow reads only PSD, "
                      "libvips only through ImageMagick): " + SAVE_AS)


def too_big(path, error):
    """The pixel-budget refusal of a PSD, with its way out."""
    return TilingError(path, error.problem.split(":")[0] + ": " + SAVE_AS)
