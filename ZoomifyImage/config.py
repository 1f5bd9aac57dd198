"""Site-wide settings: <product-config zoomifyimage> in zope.conf, read and
checked once, when the database opens, into one frozen ``Settings``
object. A bad value or an unknown name stops Zope's start-up with a
message that names them; code reads ``settings().cache_max_age`` and the
like, never a string key.

    <product-config zoomifyimage>
        storage filesystem
        tile-root /var/lib/zope/tiles
    </product-config>

docs/*.txt list the same settings (tests/test_config.py compares).
"""

import dataclasses
import os
import re

from .pyramid.budget import DEFAULT_MAX_TILING_MEMORY
from .pyramid.sources import DEFAULT_MAX_MEGAPIXELS
from .pyramid.sources import ENGINES
from .rights import check_rights

STORAGES = ("zodb", "filesystem", "s3")
VIEWERS = ("openseadragon", "iiif", "flash")
SWITCHES = {"on": True, "true": True, "yes": True,
            "off": False, "false": False, "no": False}


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Settings:
    """The settings, by name (zope.conf's ``tile-root`` is ``tile_root``)."""

    storage: str = "zodb"
    tile_root: str = ""              # default INSTANCE/var/zoomifyimage
    quality: int = 80
    engine: str = "auto"
    max_megapixels: int = DEFAULT_MAX_MEGAPIXELS
    # bytes one tiling may keep (its width sets most of it: budget.py)
    max_tiling_memory: int = DEFAULT_MAX_TILING_MEMORY
    whole_decode_megapixels: int = 100
    accept_damaged: bool = False
    cache_max_age: int = 3600
    x_sendfile_header: str = ""      # e.g. X-Accel-Redirect
    x_sendfile_prefix: str = ""      # the front-end's location of tile-root
    tile_url: str = ""               # where a front-end serves tile-root
    flash_viewer_url: str = ""
    trash_days: int = 30             # keep unused tile sets (Undo)
    sweep_minutes: int = 60          # how often unused sets are looked for
    background_megapixels: int = 50  # bigger images tile in a worker
    workers: int = 1                 # background worker threads
    max_queued_jobs: int = 10        # a user's images waiting to be tiled
    job_scan_seconds: float = 60.0   # the scan for waiting jobs
    # one client runs the sweep and expiry (lease.py); another takes
    # over when it is not renewed for this long
    maintenance_lease_seconds: float = 300.0
    upload_max_size: int = 64 << 30  # the biggest resumable upload
    upload_expiry_hours: int = 24    # abandoned partial uploads go then
    upload_empty_expiry_minutes: int = 60  # uploads that got no byte go
    upload_user_quota: int = 0       # bytes one user's open uploads may
    #                                  promise; 0: half the disc's room
    #                                  for uploads (uploads.py)
    upload_free_reserve: str = ""    # kept free: a size or N%; default
    #                                  the larger of 1GB and 5%
    upload_dir: str = ""             # default INSTANCE/var/uploads
    iiif_max_area: int = 4096 * 4096  # pixels of one composed IIIF answer
    iiif_rights: str = ""            # a rights URI (info.json, manifest)
    iiif_required_statement: str = ""  # the manifest's attribution
    iiif_provider: str = ""          # 'URL NAME' of the manifest's provider
    cross_site_guard: bool = True    # manage_* refused from other sites
    # the S3 tile store (stores/s3.py, docs/s3.txt); the keys come from
    # the environment (AWS_ACCESS_KEY_ID...) or s3-credentials-file
    s3_endpoint: str = ""            # default: the service of s3-region
    s3_bucket: str = ""
    s3_prefix: str = ""              # the sets' keys begin with it
    s3_region: str = ""
    s3_credentials_file: str = ""    # an INI file: aws_access_key_id...
    s3_tile_url: str = ""            # where viewers fetch public sets
    preview_size: int = 0            # the longer side those without View
    #                                  Zoomify full resolution see; 0: all
    # what who may view but not download the original gets: ("tier", N)
    # the largest stored tier up to N pixels a side, ("iiif", SIZE) a
    # IIIF size, ("none", None) nothing (downloads.py)
    public_download: tuple = ("tier", 2000)


def _whole(low, high=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if value < low or (high is not None and value > high):
            raise ValueError("must be from %d%s" % (
                low, " to %d" % high if high is not None else " up"))
        return value
    return parse


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


def _choice(choices):
    def parse(text):
        value = text.strip().lower()
        if value not in choices:
            raise ValueError("must be one of %s" % ", ".join(choices))
        return value
    return parse


def _switch(text):
    value = text.strip().lower()
    if value not in SWITCHES:
        raise ValueError("must be on or off")
    return SWITCHES[value]


def _size(text):
    from .instance import parse_size
    return parse_size(text)


def _reserve(text):
    """A size ("2GB") or a percentage of the disc ("5%"), as its text."""
    value = text.strip()
    if value.endswith("%"):
        try:
            percent = float(value[:-1])
        except ValueError:
            percent = -1
        if not 0 <= percent < 100:
            raise ValueError("must be a size (2GB) or a percentage below "
                             "100 (5%)")
        return value
    return str(_size(value))


def reserve_bytes(text, total):
    """The bytes to keep free on a disc of ``total`` bytes, by
    upload-free-reserve's text ("" is the default)."""
    if not text:
        return max(1 << 30, total // 20)
    if text.endswith("%"):
        return int(total * float(text[:-1]) / 100)
    return int(text)


def _path(text):
    return os.path.abspath(text)


def _optional_path(text):
    return os.path.abspath(text) if text.strip() else ""


def _text(text):
    return text.strip()


def _url(text):
    value = text.strip()
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _bucket(text):
    # the S3 rules for a bucket's name (no dots: path and virtual-host
    # addressing both work)
    value = text.strip()
    if value and not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", value):
        raise ValueError("must be a bucket name: 3 to 63 lower-case "
                         "letters, digits and dashes")
    return value


def _prefix(text):
    # a key prefix: "tiles" or "site/tiles", never "..", never absolute
    value = text.strip().strip("/")
    if value and not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*",
                                  value) or ".." in value.split("/"):
        raise ValueError("must be names of letters, digits, '.', '_' and "
                         "'-', separated by '/'")
    return value


def _rights(text):
    # the URIs IIIF Presentation 3 takes (rights.py), as an image's own
    return check_rights(text) or ""


def _provider(text):
    """'URL NAME': the manifest's provider, an http(s) URL (its id and
    homepage) and the name shown."""
    url, _, name = text.strip().partition(" ")
    name = name.strip()
    if not re.fullmatch(r"https?://[^\s<>\"]+", url) or not name or \
            "<" in name or ">" in name:
        raise ValueError("give the provider's web site and its name, like "
                         "https://www.example.org/ The Example Museum")
    return "%s %s" % (url, name)


def check_preview_size(value):
    """A preview size from a form: None (the site's), 0 (none) or pixels
    from the tile size up; ValueError otherwise (the Edit tab's and the
    preview-size setting's)."""
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("the preview size must be a number of pixels, "
                         "not %r" % (value,)) from None
    if number and number < 256:
        raise ValueError("the preview size must be 0 (none) or at least "
                         "256 pixels, not %d" % number)
    if number < 0:
        raise ValueError("the preview size cannot be negative")
    return number


def _preview(text):
    return check_preview_size(text.strip()) or 0


def _public_download(text):
    """none, tier N (pixels on the long side) or iiif SIZE (a IIIF Image
    API size: !2000,2000, 2000, or pct:25)."""
    words = text.split()
    kind = words[0].lower() if words else ""
    if kind == "none" and len(words) == 1:
        return ("none", None)
    if kind == "tier" and len(words) == 2:
        return ("tier", _whole(1)(words[1]))
    if kind == "iiif" and len(words) == 2:
        from .iiif_request import IIIFError
        from .iiif_request import parse_size
        try:  # its syntax, on an image big enough for any size
            parse_size(words[1], 1 << 16, 1 << 16, 1 << 40)
        except IIIFError as e:
            raise ValueError("not a IIIF size: %s" % e.message) from None
        return ("iiif", words[1])
    raise ValueError("must be none, tier PIXELS (tier 2000) or iiif SIZE "
                     "(iiif !2000,2000)")


# how each setting is read from its text in zope.conf
PARSERS = {
    "storage": _choice(STORAGES),
    "tile_root": _path,
    "quality": _whole(1, 100),
    "engine": _choice(ENGINES),
    "max_megapixels": _whole(1),
    "max_tiling_memory": _size,
    "whole_decode_megapixels": _whole(1),
    "accept_damaged": _switch,
    "cache_max_age": _whole(0),
    "x_sendfile_header": _text,
    "x_sendfile_prefix": _text,
    "tile_url": _text,
    "flash_viewer_url": _text,
    "trash_days": _whole(0),
    "sweep_minutes": _whole(1),
    "background_megapixels": _whole(0),
    "workers": _whole(0),
    "max_queued_jobs": _whole(0),
    "job_scan_seconds": _seconds,
    "maintenance_lease_seconds": _seconds,
    "upload_max_size": _size,
    "upload_expiry_hours": _whole(1),
    "upload_empty_expiry_minutes": _whole(1),
    "upload_user_quota": _size,
    "upload_free_reserve": _reserve,
    "upload_dir": _path,
    "iiif_max_area": _whole(1),
    "iiif_rights": _rights,
    "iiif_required_statement": _text,
    "iiif_provider": _provider,
    "cross_site_guard": _switch,
    "s3_endpoint": _url,
    "s3_bucket": _bucket,
    "s3_prefix": _prefix,
    "s3_region": _text,
    "s3_credentials_file": _optional_path,
    "s3_tile_url": _text,
    "preview_size": _preview,
    "public_download": _public_download,
}


def names():
    """The settings' names as zope.conf spells them."""
    return [f.name.replace("_", "-") for f in dataclasses.fields(Settings)]


def load(section, instancehome=None):
    """Settings from a <product-config> section (a dict of texts); raises
    ConfigError naming the first bad setting and its value."""
    values = {}
    for key, text in (section or {}).items():
        field = key.replace("-", "_")
        if field not in PARSERS or "_" in key:
            raise ConfigError(
                "<product-config zoomifyimage>: unknown setting %r (known: "
                "%s)" % (key, ", ".join(names())))
        try:
            values[field] = PARSERS[field](str(text))
        except ValueError as e:
            raise ConfigError("<product-config zoomifyimage> %s %s: %s"
                              % (key, text, e)) from None
    base = instancehome or os.getcwd()
    values.setdefault("tile_root", os.path.join(base, "var", "zoomifyimage"))
    values.setdefault("upload_dir", os.path.join(base, "var", "uploads"))
    if values.get("storage") == "s3" and not values.get("s3_bucket"):
        raise ConfigError("<product-config zoomifyimage> storage s3: "
                          "s3-bucket is not set")
    return Settings(**values)


_loaded = None   # (a copy of the section, instancehome, Settings)


def _section():
    try:
        from App.config import getConfiguration
    except ImportError:  # the tiler used without Zope
        return {}, None
    config = getConfiguration()
    section = (getattr(config, "product_config", None) or {}).get(
        "zoomifyimage") or {}
    return section, getattr(config, "instancehome", None)


def settings():
    """The site's Settings. Read once; read again only if the section was
    replaced or changed (the tests set values in it): comparing a dozen
    strings is all a tile request pays. Where the current site keeps
    values of its own (a Plone site's control panel: set_site_values),
    they replace zope.conf's."""
    global _loaded
    section, instancehome = _section()
    loaded = _loaded
    if loaded is None or loaded[0] != section or loaded[1] != instancehome:
        loaded = _loaded = (dict(section), instancehome,
                            load(section, instancehome))
    source = _site_values
    if source is None:
        return loaded[2]
    texts = source()
    return _with_site_values(loaded[2], texts) if texts else loaded[2]


# a function that gives the current site's own settings as a tuple of
# (name, text) pairs, each text as zope.conf would spell it, or None
_site_values = None
_with_site = {}    # (id of Settings, texts) -> (it, with them): parsed once


def set_site_values(function):
    """Let ``function`` give the current site's own settings (see
    settings()); None: zope.conf's alone."""
    global _site_values
    _site_values = function


# a site's own settings (a Plone site's control panel, which its Site
# Administrators edit) may lower these, never raise them: they guard the
# process that every site of the Zope shares (memory, request threads)
OPERATORS_CEILINGS = ("max_megapixels", "max_tiling_memory",
                      "background_megapixels")


def check_site_values(texts, base=None):
    """A site's own settings, checked by the parsers zope.conf's are:
    {name: value}; raises ConfigError naming the first bad one (its
    zope.conf name) and why."""
    values = {}
    for name, text in texts:
        try:
            values[name] = PARSERS[name](str(text))
        except ValueError as e:
            raise ConfigError("%s %s: %s" % (
                name.replace("_", "-"), text, e)) from None
    base = base or settings()
    if values.get("storage") == "s3" and not base.s3_bucket:
        raise ConfigError("storage s3: s3-bucket is not set in zope.conf")
    for name in OPERATORS_CEILINGS:
        if name in values and values[name] > getattr(base, name):
            raise ConfigError("%s %s: more than zope.conf's %s, which a "
                              "site may lower but not raise" % (
                                  name.replace("_", "-"), values[name],
                                  getattr(base, name)))
    return values


def _with_site_values(base, texts):
    key = (id(base), texts)
    found = _with_site.get(key)
    if found is None or found[0] is not base:
        try:
            mixed = dataclasses.replace(
                base, **check_site_values(texts, base))
        except ConfigError:
            # stored past the checks (an import): zope.conf's, not a
            # site that answers nothing
            mixed = base
        if len(_with_site) > 100:
            _with_site.clear()
        found = _with_site[key] = (base, mixed)
    return found[1]


def database_opened(event):
    """At start-up (the first subscriber): a bad setting stops Zope here,
    not at the first request that needs it."""
    settings()
