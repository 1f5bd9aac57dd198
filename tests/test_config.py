"""Settings (issue 15): read and checked once into one frozen object; a bad
value stops start-up with a message naming it; the manual (docs/*.txt)
lists the same settings as the object has."""

import dataclasses
import glob
import os
import re

import pytest

from ZoomifyImage import config

DOCS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs")


def test_defaults_and_names():
    site = config.load({}, "/srv/zope")
    assert site.storage == "zodb" and site.quality == 80
    assert site.tile_root == "/srv/zope/var/zoomifyimage"
    assert site.upload_dir == "/srv/zope/var/uploads"
    assert site.accept_damaged is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.quality = 10


def test_values_are_parsed():
    site = config.load({"quality": "92", "accept-damaged": "on",
                        "upload-max-size": "2GB", "engine": "VIPS",
                        "tile-root": "/t", "job-scan-seconds": "0.5"})
    assert site.quality == 92 and site.accept_damaged is True
    assert site.upload_max_size == 2 << 30 and site.engine == "vips"
    assert site.tile_root == "/t" and site.job_scan_seconds == 0.5


@pytest.mark.parametrize("name, value", [
    ("cache-max-age", "abc"), ("quality", "0"), ("quality", "101"),
    ("storage", "s3"), ("engine", "magic"), ("accept-damaged", "maybe"),
    ("upload-max-size", "lots"), ("workers", "-1"), ("trash-days", "-1"),
    ("job-scan-seconds", "0")])
def test_a_bad_value_is_named(name, value):
    with pytest.raises(config.ConfigError) as info:
        config.load({name: value})
    assert "%s %s" % (name, value) in str(info.value)


def test_public_download():
    assert config.load({}).public_download == ("tier", 2000)
    for text, value in (("none", ("none", None)),
                        ("tier 1200", ("tier", 1200)),
                        ("TIER 64", ("tier", 64)),
                        ("iiif !2000,2000", ("iiif", "!2000,2000")),
                        ("iiif 1200,", ("iiif", "1200,")),
                        ("iiif pct:25", ("iiif", "pct:25"))):
        assert config.load({"public-download": text}).public_download \
            == value, text
    for text in ("original", "tier", "tier 0", "tier big", "iiif",
                 "iiif !2000", "iiif 2000x2000", "none 5", ""):
        with pytest.raises(config.ConfigError) as info:
            config.load({"public-download": text})
        assert "public-download %s" % text in str(info.value)


def test_an_unknown_name_is_named():
    with pytest.raises(config.ConfigError) as info:
        config.load({"tile_url": "https://x/"})  # underscore: a typo
    assert "'tile_url'" in str(info.value)


def test_the_manual_lists_the_same_settings():
    # each setting is described in the file of its topic (settings.txt,
    # uploads.txt, iiif.txt...)
    texts = [open(path).read()
             for path in sorted(glob.glob(os.path.join(DOCS, "*.txt")))]
    documented = set(re.findall(r"^- ([a-z][a-z0-9-]+):", "\n".join(texts),
                                re.M))
    assert set(config.names()) <= documented, \
        set(config.names()) - documented
    # and every example block uses only real settings
    used = set()
    for text in texts:
        for block in re.findall(r"^\s*<product-config zoomifyimage>(.*?)"
                                r"</product-config>", text, re.S | re.M):
            used.update(re.findall(r"^\s+([a-z][a-z0-9-]+)\s", block, re.M))
    assert used, "no example block found"
    assert used <= set(config.names()), used - set(config.names())


def test_a_bad_setting_stops_zope_at_start_up():
    from tests.zope_fixtures import ZopeServer
    server = ZopeServer(settings={"cache-max-age": "abc"})
    with pytest.raises(RuntimeError) as info:
        server.start(timeout=60)
    assert "cache-max-age abc" in str(info.value)


def test_a_site_may_lower_the_operators_limits_never_raise_them():
    """A Plone site's own settings (its control panel, Site
    Administrators') replace zope.conf's, but the limits that guard the
    process every site shares (image size, tiling memory, tiling in the
    request) are the operator's ceiling: above it, refused with the
    reason, and a value stored past the form is not used."""
    base = config.load({"max-megapixels": "500", "max-tiling-memory": "1GB",
                        "background-megapixels": "20"}, None)
    lower = config.check_site_values((("max_megapixels", "100"),
                                      ("max_tiling_memory", "512MB"),
                                      ("background_megapixels", "0")), base)
    assert lower == {"max_megapixels": 100,
                     "max_tiling_memory": 512 * 1024 ** 2,
                     "background_megapixels": 0}
    for name, text in (("max_megapixels", "20000"),
                       ("max_tiling_memory", "64GB"),
                       ("background_megapixels", "100000")):
        with pytest.raises(config.ConfigError) as refused:
            config.check_site_values(((name, text),), base)
        assert name.replace("_", "-") in str(refused.value)
        assert "zope.conf" in str(refused.value)
        mixed = config._with_site_values(base, ((name, text),))
        assert getattr(mixed, name) == getattr(base, name), name
