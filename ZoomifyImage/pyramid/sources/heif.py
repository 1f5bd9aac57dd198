"""HEIF through Pillow: pillow-heif (the `heif` extra) registers a HEIF
opener with Pillow, and its wheels bundle libheif with an HEVC decoder
(libde265), which the pyvips binary wheel's libheif lacks: the HEIC most
phones shoot is HEVC. Decoded whole, as AVIF through Pillow.

Which codec a file's image is coded in is read from the file
(identify.heif_codec), so that an engine is chosen, or the file refused
as unsupported, before anything is decoded.
"""

import re

from .identify import heif_codec

_state = {}


def pillow_heif():
    """The pillow_heif module with its opener registered, or None."""
    if "module" not in _state:
        try:
            import pillow_heif as module
        except ImportError:
            module = None
        else:
            # no thumbnails: a HEIF's draft() would hand out one (we
            # never ask for one, and they cost a decode to list)
            module.register_heif_opener(thumbnails=False)
        _state["module"] = module
    return _state["module"]


def heif_available():
    return pillow_heif() is not None


def decoders():
    """The words of pillow-heif's libheif decoders' names ("libde265 HEVC
    decoder, ..."): the codecs it decodes."""
    module = pillow_heif()
    if module is None:
        return set()
    words = set()
    for name in module.libheif_info().get("decoders", {}).values():
        words.update(re.split(r"[\s,()]+", name))
    return words


def pillow_reads(path):
    """Whether pillow-heif decodes the HEIF at ``path`` (its codec is one
    of its libheif's decoders)."""
    codec = heif_codec(path)
    return codec is not None and codec.replace(" ", "") in decoders()


def libheif_says(path):
    """What pillow-heif's libheif says of a HEIF that Pillow did not
    open: (words, unsupported), or None where it opens it."""
    module = pillow_heif()
    if module is None:
        return None
    try:
        with open(path, "rb") as f:
            module.open_heif(f)
    except Exception as e:
        words = " ".join(str(e).split()) or type(e).__name__
        return words, "not been built in" in words or (
            "Unsupported" in words)
    return None


HEIF_EXTRA = ("install the 'heif' extra (pip install 'ZoomifyImage[heif]'), "
              "with which the pillow engine reads HEVC-coded HEIF")


def way_out(path):
    """What reads a HEIF another engine lacks the codec of: "" where
    nothing we know of does."""
    if pillow_reads(path):
        return "the pillow engine reads it (pillow-heif)"
    if not heif_available() and heif_codec(path) in ("HEVC", None):
        return HEIF_EXTRA
    return ""
