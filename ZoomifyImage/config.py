"""Site-wide defaults, from zope.conf:

    <product-config zoomifyimage>
        storage zodb
        tile-root /var/lib/zope/tiles
        quality 80
        engine auto
        max-megapixels 20000
    </product-config>
"""

import os

from .pyramid.sources import DEFAULT_MAX_MEGAPIXELS

STORAGES = ("zodb", "filesystem")
ENGINES = ("auto", "vips", "pillow", "tiff", "jp2", "slide")
VIEWERS = ("openseadragon", "iiif", "flash")

DEFAULTS = {
    "storage": "zodb",
    "tile-root": None,           # INSTANCE/var/zoomifyimage
    "quality": "80",
    "engine": "auto",
    "max-megapixels": str(DEFAULT_MAX_MEGAPIXELS),
    "whole-decode-megapixels": "100",
    "cache-max-age": "3600",
    "x-sendfile-header": "",     # e.g. X-Accel-Redirect
    "x-sendfile-prefix": "",     # URL prefix the front-end maps to tile-root
    "tile-url": "",              # where a front-end serves tile-root
    "flash-viewer-url": "",
    "accept-damaged": "off",         # tile damaged image data anyway
    "trash-days": "30",              # keep unused tile sets (undo)
    "sweep-minutes": "60",           # how often unused sets are looked for
    "background-megapixels": "50",   # bigger images tile in a worker
    "workers": "1",                  # background worker threads
    "job-scan-seconds": "60",        # how often idle workers look for
                                     # jobs of dead or other processes
    "upload-max-size": "64GB",       # the biggest resumable (tus) upload
    "upload-expiry-hours": "24",     # abandoned partial uploads go then
    "upload-dir": None,              # INSTANCE/var/uploads
    "iiif-max-area": "16777216",     # pixels of one IIIF answer (4096^2)
    "iiif-rights": "",               # a rights URI for info.json, manifest
    "iiif-required-statement": "",   # the manifest's attribution text
}


class ConfigError(ValueError):
    pass


def _raw():
    try:
        from App.config import getConfiguration
        config = getConfiguration()
    except ImportError:  # the tiler used without Zope
        return {}, None
    section = (getattr(config, "product_config", None) or {}).get(
        "zoomifyimage") or {}
    return section, getattr(config, "instancehome", None)


def get(name):
    """A setting as a string (or None), zope.conf first, then defaults."""
    if name not in DEFAULTS:
        raise KeyError(name)
    section, instancehome = _raw()
    value = section.get(name, DEFAULTS[name])
    if name == "tile-root" and not value:
        base = instancehome or os.getcwd()
        value = os.path.join(base, "var", "zoomifyimage")
    return value


def get_int(name, low=None, high=None):
    value = get(name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError("<product-config zoomifyimage> %s must be a whole "
                          "number, not %r" % (name, value))
    if (low is not None and number < low) or (
            high is not None and number > high):
        raise ConfigError("<product-config zoomifyimage> %s is out of range: "
                          "%d" % (name, number))
    return number


def get_choice(name, choices):
    value = (get(name) or "").strip().lower()
    if value not in choices:
        raise ConfigError("<product-config zoomifyimage> %s must be one of %s,"
                          " not %r" % (name, ", ".join(choices), value))
    return value


def storage():
    return get_choice("storage", STORAGES)


def engine():
    return get_choice("engine", ENGINES)


def quality():
    return get_int("quality", 1, 100)


def accept_damaged():
    value = get_choice("accept-damaged", ("on", "off", "true", "false",
                                          "yes", "no"))
    return value in ("on", "true", "yes")


def tile_root():
    return os.path.abspath(get("tile-root"))
