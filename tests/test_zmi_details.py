"""Issue 23, newcomer defect 6: the small things a new user trips over in
the ZMI and on the viewer page, through the real publisher."""

import re

import pytest

from tests.test_zope_jobs import add_waiting
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root


def _row(folder, id):
    # the row of ``id`` in Zope's folder listing
    page = fetch("%s/%s/manage_main" % (BASE, folder), login=True).contents
    at = page.index('href="%s/manage_workspace"' % id)
    start = page.rindex("<tr", 0, at)
    return page[start:page.index("</tr>", at)]


def _listing_size(folder, id):
    return re.search(r"\d+(?:\.\d+)? [KM]iB", _row(folder, id)).group(0)


def test_one_file_has_one_size_on_every_page(folder, photo):
    add(folder, photo, "p")
    edit = fetch("%s/%s/p/manage_main" % (BASE, folder), login=True)
    original = re.search(r"download\">[^<]*</a> \(([^)]*)\)",
                         edit.contents).group(1)
    assert original == _listing_size(folder, "p")
    tiles = re.search(r'id="zoomify-tiles">\d+ \(([^,]*),',
                      edit.contents).group(1)
    assert re.fullmatch(r"\d+(\.\d\d MiB| KiB)", tiles), tiles


def test_the_view_tab_keeps_the_zmi(folder, photo):
    add(folder, photo, "p")
    edit = fetch("%s/%s/p/manage_main" % (BASE, folder), login=True)
    (tab,) = re.findall(r'<a[^>]*href="view"[^>]*>', edit.contents)
    assert 'target="_blank"' in tab


def test_the_viewer_page_asks_no_favicon(folder, photo):
    url = add(folder, photo, "p")
    page = fetch(url)
    assert status(page) == 200
    # a data: icon: the browser asks nothing of /favicon.ico, a 404
    assert re.search(r'<link rel="icon" href="data:,"', page.contents)


def test_the_folder_listing_shows_what_waits(folder, tmp_path,
                                             small_threshold):
    from ZoomifyImage import jobs
    add_waiting(folder, tmp_path)
    with zope_root(commit=False) as app:
        assert app[folder]["big"].current_status() == "queued"
    assert "fa-hourglass-half" in _row(folder, "big")
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    assert "fa-hourglass-half" not in _row(folder, "big")


@pytest.mark.file_storage  # the Undo log: see zope_fixtures.demo_storage
def test_the_undo_list_says_what_a_background_job_did(tmp_path, unique_id):
    """Every transaction of a background tiling says so in the Undo list
    (it held five or more blank entries per job)."""
    from tests.images import save
    from tests.images import smooth
    from tests.zope_fixtures import add_folder
    from tests.zope_fixtures import product_config
    from ZoomifyImage import jobs
    folder = add_folder("u" + unique_id)
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    with product_config(**{"background-megapixels": "1"}):
        jobs.pool.pause()
        try:
            add(folder, path, "big")  # the test's own add: no note
            with zope_root(commit=False) as app:
                db = app._p_jar.db()
                last = db.undoLog(0, 1)[0]["id"]
        finally:
            jobs.pool.resume()
        assert jobs.pool.wait(120)
    entries = []
    for entry in db.undoLog(0, 200):
        if entry["id"] == last:
            break
        text = entry["description"]
        entries.append(text.decode() if isinstance(text, bytes) else text)
    job_entries = [e for e in entries if "background job" in e]
    assert len(job_entries) >= 3, entries
    assert all(e.startswith("Zoomify Image") for e in job_entries)
    assert any("big: new tiles in place" in e for e in job_entries)
    # nothing of the job goes unsaid
    assert all(e.strip() for e in entries), entries
    with zope_root() as app:
        app.manage_delObjects([folder])


def test_an_image_added_without_an_id_is_named_without_extension(folder,
                                                                 photo):
    """The id is the file's name without its extension: the image is a
    viewer page (HTML), and /photo.jpg/iiif looked like the file. Through
    the add form, as a browser without JavaScript posts it. The space
    becomes '-' (content.safe_id: an id is a plain URL name)."""
    from tests.zope_fixtures import browser
    b = browser(login=True)
    b.open("%s/%s/manage_addProduct/ZoomifyImage/"
           "manage_addZoomifyImageForm" % (BASE, folder))
    with open(photo, "rb") as f:
        b.getControl(name="file").add_file(f.read(), "image/png",
                                           "harbour view.png")
    b.getForm(index=0).submit()
    with zope_root(commit=False) as app:
        assert "harbour-view" in app[folder].objectIds()
        assert app[folder]["harbour-view"].title == "harbour view.png"
