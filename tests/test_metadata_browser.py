"""An image's description in Debian's Chromium (Playwright), against this
process's Zope served by waitress on 127.0.0.1: a manager fills the Edit
tab's Description by its labels and saves it; the viewer page shows it;
Mirador (the copy the product ships) shows the manifest's metadata in
its "About this item" panel and the rights and attribution in its
"Rights" panel."""

import pytest

from tests.images import colourful
from tests.test_iiif_viewers import MIRADOR_OWN_ERRORS
from tests.test_iiif_viewers import Page
from tests.test_iiif_viewers import missing
from tests.test_iiif_viewers import put_page
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import put_jpeg

pytestmark = pytest.mark.skipif(
    missing("mirador/mirador.min.js") is not None,
    reason=missing("mirador/mirador.min.js") or "")

MIRADOR_PANELS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin: 0">
<div id="viewer" style="position: absolute; inset: 0"></div>
<script src="/++resource++zoomifyimage/mirador/mirador.min.js"></script>
<script>
var manifest = "<dtml-var "%s.absolute_url()">/manifest.json";
window.mirador = Mirador.viewer({id: "viewer", windows: [
    {manifestId: manifest, sideBarOpen: true, sideBarPanel: "info"},
    {manifestId: manifest, sideBarOpen: true,
     sideBarPanel: "attribution"}]});
</script>
</body></html>
"""


def test_the_edit_tab_description_is_shown_and_mirador_shows_it(
        local_url, chromium, folder, tmp_path):
    path = put_jpeg(folder, "starry", colourful(600, 400, seed=2),
                    tmp_path, title="Starry night")
    context = chromium.new_context(
        viewport={"width": 1100, "height": 900},
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    try:
        tab = context.new_page()
        tab.goto(local_url + path + "/manage_main")
        tab.get_by_label("Summary").fill("Painted at Saint-R\u00e9my.")
        tab.get_by_label("Creator").fill("Vincent van Gogh")
        tab.get_by_label("Date").fill("1889-06")
        tab.get_by_label("Attribution (required statement)").fill(
            "Courtesy of the Example Museum")
        tab.get_by_label("Rights").select_option(label="CC BY-SA 4.0")
        tab.get_by_label("Language of the texts").fill("en")
        tab.get_by_label("Label 1").fill("Medium")
        tab.get_by_label("Value 1").fill("Oil on canvas")
        tab.get_by_role("button", name="Save Description").click()
        tab.get_by_text("Saved the description.").wait_for()
        # what was saved is in the form again
        assert tab.get_by_label("Creator").input_value() == \
            "Vincent van Gogh"
        assert tab.get_by_label("Value 1").input_value() == "Oil on canvas"

        # the viewer page, as a visitor reads it
        page = Page(chromium, local_url)
        try:
            page.page.goto(local_url + path)
            about = page.page.get_by_role("complementary",
                                          name="About this image")
            assert about.is_visible()
            text = about.inner_text()
            for shown in ("Painted at Saint-R\u00e9my.", "Creator",
                          "Vincent van Gogh", "Date", "1889-06", "Medium",
                          "Oil on canvas", "CC BY-SA 4.0",
                          "Attribution: Courtesy of the Example Museum"):
                assert shown in text, (shown, text)
            licence = about.get_by_role("link", name="CC BY-SA 4.0")
            assert licence.get_attribute("href") == \
                "http://creativecommons.org/licenses/by-sa/4.0/"
            page.screenshot("metadata-viewer-page")
            page.check_clean()
        finally:
            page.close()

        # Mirador: "About this item" and "Rights", from the manifest
        mirador = put_page(folder, "mirador", MIRADOR_PANELS % "starry")
        page = Page(chromium, local_url)
        try:
            page.page.goto(local_url + mirador)
            info = page.page.locator("aside").filter(
                has_text="About this item").first
            info.get_by_text("Vincent van Gogh").wait_for(timeout=20000)
            text = info.inner_text()
            for shown in ("Starry night", "Painted at Saint-R\u00e9my.",
                          "Creator", "1889-06", "Medium", "Oil on canvas"):
                assert shown in text, (shown, text)
            rights = page.page.locator("aside").filter(
                has_text="Courtesy of the Example Museum").first
            rights.wait_for(timeout=20000)
            assert "creativecommons.org/licenses/by-sa/4.0/" in \
                rights.inner_text()
            page.screenshot("metadata-mirador")
            page.check_clean(allowed=MIRADOR_OWN_ERRORS)
        finally:
            page.close()
    finally:
        context.close()


MIRADOR_COLLECTION = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin: 0">
<div id="viewer" style="position: absolute; inset: 0"></div>
<script src="/++resource++zoomifyimage/mirador/mirador.min.js"></script>
<script>
window.mirador = Mirador.viewer({id: "viewer", windows: [
    {manifestId: "%s/collection.json"}]});
</script>
</body></html>
"""


def test_mirador_opens_a_folders_collection(local_url, chromium, folder,
                                            tmp_path):
    """Issue 27: a folder's collection.json opened in Mirador (the copy
    the product ships) is a collection: its dialog lists the folder's
    images by title, and one chosen opens in the window, with no failed
    request."""
    titles = ["Harbour at dawn", "Pier", "Lighthouse"]
    for seed, title in enumerate(titles):
        put_jpeg(folder, "image%d" % seed, colourful(240, 160, seed=seed),
                 tmp_path, title=title)
    mirador = put_page(folder, "mirador", MIRADOR_COLLECTION % (
        local_url + "/" + folder))
    page = Page(chromium, local_url)
    try:
        page.page.goto(local_url + mirador)
        # a window on the collection: "No item selected", and the button
        page.page.get_by_role("button", name="show collection").click(
            timeout=20000)
        dialog = page.page.get_by_role("dialog")
        dialog.get_by_text("Lighthouse").wait_for(timeout=20000)
        assert dialog.get_by_text("3 manifests").is_visible()
        items = dialog.get_by_role("menuitem").all_inner_texts()
        assert items == titles, items
        page.screenshot("mirador-collection")
        dialog.get_by_role("menuitem", name="Pier").click()
        page.page.get_by_role("heading", name="Pier").wait_for(
            timeout=20000)
        page.check_clean(allowed=MIRADOR_OWN_ERRORS)
        assert local_url + "/%s/collection.json" % folder in page.urls
        assert local_url + "/%s/image1/manifest.json" % folder in page.urls
    finally:
        page.close()
