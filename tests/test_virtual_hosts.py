"""Issue 23, H1: a client's own VirtualHostBase (or _vh_ segments) never
chooses where our pages load anything from.

Every HTML page of the product, asked through
/VirtualHostBase/http/evil.example:80/VirtualHostRoot/..., must name no
host at all in what it loads or links: scripts, styles, the tiles, the
uploader's endpoint, the original's link are paths on the site the
browser asked."""

import re

import pytest

from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status

EVIL = "/VirtualHostBase/http/evil.example:80/VirtualHostRoot"
# a leading '//' in a path is a host to the browser
SLASHES = "/VirtualHostBase/http/localhost:80/VirtualHostRoot/_vh_/_vh_evil"
PAGES = ("", "/view", "/embed", "/manage_main")
URLS = re.compile(
    r"""(?:src|href|action|data-[a-z-]+)\s*=\s*["']([^"']*)["']"""
    r"""|"(?:tilesUrl|prefixUrl|iiif)":\s*"([^"]*)\"""", re.I)


def _loaded_urls(html):
    urls = []
    for m in URLS.finditer(html):
        urls.append(m.group(1) or m.group(2) or m.group(0))
    scripts = re.search(r'"scripts":\s*\[([^\]]*)\]', html)
    if scripts:
        urls += re.findall(r'"([^"]*)"', scripts.group(1))
    return urls


@pytest.mark.parametrize("prefix", [EVIL, SLASHES])
@pytest.mark.parametrize("viewer", ["openseadragon", "iiif"])
def test_pages_name_no_host_from_the_request(folder, prefix, viewer):
    from tests.images import smooth
    add(folder, smooth(600, 400), "p", storage="filesystem")
    from tests.zope_fixtures import zope_root
    with zope_root() as app:
        app[folder]["p"].viewer = viewer
    pages = ["%s/%s/p%s" % (prefix, folder, page) for page in PAGES]
    pages.append("%s/%s/manage_addProduct/ZoomifyImage/manage_addZoomifyImageForm"
                 % (prefix, folder))
    seen = 0
    for page in pages:
        b = fetch(BASE + page, login=True)
        assert status(b) == 200, page
        html = b.contents
        if page.endswith(("/p", "/view", "/embed")):
            # the viewer page: no trace of the request's host at all
            assert "evil" not in html.lower() or "_vh_evil" in prefix, page
        for url in _loaded_urls(html):
            assert not re.match(r"^\s*(https?:)?//", url), (page, url)
            seen += 1
    assert seen > 10


def test_tag_for_embedding_names_no_host(folder):
    from tests.images import smooth
    from tests.zope_fixtures import zope_root
    add(folder, smooth(600, 400), "p")
    with zope_root(commit=False) as app:
        request = app.REQUEST
        request["PARENTS"] = [app]
        request.setServerURL("http", "evil.example", "80")
        request.setVirtualRoot([])
        html = app[folder]["p"].tag()
    assert "evil.example" not in html
    urls = _loaded_urls(html)
    assert urls and all(u.startswith("/") and not u.startswith("//")
                        for u in urls), urls


@pytest.mark.parametrize("prefix", [EVIL, SLASHES])
def test_the_edit_tab_refreshes_to_no_host_from_the_request(
        small_threshold, folder, tmp_path, prefix):
    """While a job waits the Edit tab reloads itself (a meta refresh every
    3 s): to the image's own path, never to the host of a client's
    VirtualHostBase, which would take the manager to that host."""
    from tests.images import save
    from tests.images import smooth
    from ZoomifyImage import jobs
    jobs.pool.pause()  # the job waits: the tab refreshes itself
    add(folder, save(smooth(1500, 1000), tmp_path / "big.png"), "big")
    b = fetch("%s%s/%s/big/manage_main" % (BASE, prefix, folder),
              login=True)
    assert status(b) == 200
    refresh = re.search(r'http-equiv="refresh"\s+content="([^"]*)"',
                        b.contents)
    assert refresh, "no refresh while the job waits"
    target = refresh.group(1).split("url=", 1)[1].strip()
    assert not re.match(r"^\s*(https?:)?//", target), target
    assert target.endswith("/%s/big/manage_main" % folder), target


@pytest.mark.parametrize("prefix", [EVIL, SLASHES])
def test_folder_pages_name_no_host_from_the_request(folder, prefix):
    """The gallery (thumbnails, links, its style), the ZMI listing's
    script (IJSPaths) and its facts (thumbnails): paths only."""
    import json

    from tests.images import smooth
    add(folder, smooth(600, 400), "p")
    gallery = fetch("%s%s/%s/gallery" % (BASE, prefix, folder))
    assert status(gallery) == 200
    listing = fetch("%s%s/%s/manage_main" % (BASE, prefix, folder),
                    login=True)
    assert status(listing) == 200
    assert "zoomify-zmi-listing.js" in listing.contents
    facts = fetch("%s%s/%s/@@zoomify-listing" % (BASE, prefix, folder),
                  login=True)
    thumbnail = json.loads(facts.contents)["images"]["p"]["thumbnail"]
    assert "evil" not in gallery.contents.lower() or "_vh_evil" in prefix
    urls = _loaded_urls(gallery.contents) + [thumbnail] + [
        u for u in _loaded_urls(listing.contents) if "zoomify" in u]
    assert len(urls) > 5
    for url in urls:
        assert not re.match(r"^\s*(https?:)?//", url), url
