"""Descriptive metadata and rights per image, through the publisher
(zope.testbrowser): the Edit tab's "Description" (POST only, from this
site), what it refuses, the Presentation 3 manifest (validated by the
iiif-prezi3 models), the viewer page's "About this image" and its
schema.org JSON-LD, the site's rights and attribution as defaults, and
zoomify-import's CSV and sidecar JSON. The browser side (the Edit tab in
Chromium, Mirador's "About this item") is in test_metadata_browser.py."""

import json
import os
import re
import subprocess
import urllib.parse

import pytest

from tests.test_viewer_pages import Elements
from tests.zope_fixtures import BASE
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import add
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import import_command
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

CC_BY = "http://creativecommons.org/licenses/by/4.0/"
IN_COPYRIGHT = "http://rightsstatements.org/vocab/InC-EDU/1.0/"

# what a museum's web manager types into the Edit tab
FORM = [
    ("summary", "Oil on canvas, painted in the asylum at Saint-R\u00e9my."),
    ("creator", "Vincent van Gogh"),
    ("date", "1889-06"),
    ("source", "Bequest of Lillie P. Bliss, 1941"),
    ("identifier", "472.1941"),
    ("attribution_label", "Credit"),
    ("attribution", "Courtesy of the Example Museum"),
    ("rights", "https://creativecommons.org/licenses/by/4.0/"),
    ("language", "en"),
    ("metadata_label:list", "Medium"), ("metadata_value:list", "Oil"),
    ("metadata_language:list", ""),
    ("metadata_label:list", "Technik"), ("metadata_value:list", "\u00d6l"),
    ("metadata_language:list", "de"),
    # the Edit tab's empty rows
    ("metadata_label:list", ""), ("metadata_value:list", ""),
    ("metadata_language:list", ""),
]


def post(url, pairs, headers=()):
    b = browser()
    for name, value in headers:
        b.addHeader(name, value)
    b.post(url, urllib.parse.urlencode(pairs),
           "application/x-www-form-urlencoded")
    return b


def described(folder, id="p"):
    with zope_root(commit=False) as app:
        image = app[folder][id]
        return {name: getattr(image, name) for name in (
            "title", "summary", "creator", "date", "source", "identifier",
            "attribution_label", "attribution", "rights", "language",
            "metadata")}


def manifest_of(url):
    b = fetch(url + "/manifest.json")
    assert status(b) == 200
    doc = json.loads(b.contents)
    # the IIIF Presentation 3 models of iiif-prezi3 take it whole
    from iiif_prezi3 import Manifest
    Manifest(**doc)
    return doc


def json_ld(html):
    """The page's schema.org JSON-LD (there is one script of it)."""
    scripts = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)'
                         r'</script>', html, re.S)
    assert len(scripts) == 1, scripts
    return json.loads(scripts[0])


def test_the_edit_tab_describes_the_image_everywhere(folder, photo):
    url = add(folder, photo, "p", title="Starry night")
    # the Edit tab offers the form, with the rights to choose from
    tab = fetch(url + "/manage_main", login=True).contents
    form = Elements(tab)
    assert form.find("form", action="manage_describe")
    assert form.find("option", value=CC_BY)
    assert form.find("option", value=IN_COPYRIGHT)
    b = post(url + "/manage_describe", FORM)
    assert status(b) == 200 and "Saved the description." in b.contents
    stored = described(folder)
    assert stored["rights"] == CC_BY  # the https form is IIIF's http URI
    assert stored["creator"] == "Vincent van Gogh"
    assert [tuple(p.__dict__.values()) for p in stored["metadata"]] == [
        ("Medium", "Oil", ""), ("Technik", "\u00d6l", "de")]
    # the form shows what was saved, and saving it again changes nothing
    tab = Elements(fetch(url + "/manage_main", login=True).contents)
    assert tab.find("input", name="creator", value="Vincent van Gogh")
    assert tab.find("option", value=CC_BY, selected="selected")
    b = post(url + "/manage_describe", FORM)
    assert "Nothing changed." in b.contents

    # the manifest, exactly as Presentation 3 wants it
    doc = manifest_of(url)
    assert doc["label"] == {"en": ["Starry night"]}
    assert doc["summary"] == {"en": [FORM[0][1]]}
    assert doc["metadata"] == [
        {"label": {"en": ["Creator"]}, "value": {"en": ["Vincent van Gogh"]}},
        {"label": {"en": ["Date"]}, "value": {"en": ["1889-06"]}},
        {"label": {"en": ["Source"]},
         "value": {"en": ["Bequest of Lillie P. Bliss, 1941"]}},
        {"label": {"en": ["Identifier"]}, "value": {"en": ["472.1941"]}},
        {"label": {"en": ["Medium"]}, "value": {"en": ["Oil"]}},
        {"label": {"de": ["Technik"]}, "value": {"de": ["\u00d6l"]}},
    ]
    assert doc["requiredStatement"] == {
        "label": {"en": ["Credit"]},
        "value": {"en": ["Courtesy of the Example Museum"]}}
    assert doc["rights"] == CC_BY
    assert doc["navDate"] == "1889-06-01T00:00:00Z"
    assert doc["homepage"] == [{"id": url, "type": "Text",
                                "label": {"en": ["Starry night"]},
                                "format": "text/html", "language": ["en"]}]
    assert "provider" not in doc  # the site names none
    assert doc["seeAlso"] == [{"id": url + "/about.json", "type": "Dataset",
                               "label": {"en": ["schema.org description"]},
                               "format": "application/ld+json",
                               "profile": "https://schema.org/"}]
    b = fetch(url + "/about.json")
    assert status(b) == 200
    assert b.headers["Content-Type"] == "application/ld+json"
    about = json.loads(b.contents)
    assert about["name"] == "Starry night" and about["url"] == url
    assert about["license"] == CC_BY and about["dateCreated"] == "1889-06"
    assert about["subjectOf"]["url"] == url + "/manifest.json"
    assert fetch(about["thumbnailUrl"]).headers["Content-Type"] == \
        "image/jpeg"
    info = json.loads(fetch(url + "/iiif/info.json").contents)
    assert info["rights"] == CC_BY

    # the viewer page: the text, with its semantics
    html = fetch(url).contents
    page = Elements(html)
    (about,) = page.find("aside", id="zoomify-about")
    # the viewer (role img, named by the title) is described by the summary
    (viewer,) = page.find("div", role="img")
    assert viewer["aria-label"] == "Starry night"
    assert viewer["aria-describedby"] == "zoomify-summary"
    assert page.find("p", id="zoomify-summary")
    assert about["lang"] == "en"
    assert "<h2 id=\"zoomify-about-heading\">About this image</h2>" in html
    pairs = re.findall(r"<dt( lang=\"de\")?>([^<]*)</dt>\s*"
                       r"<dd(?: lang=\"de\")?>([^<]*)</dd>", html)
    assert [(p[1], p[2]) for p in pairs] == [
        ("Creator", "Vincent van Gogh"), ("Date", "1889-06"),
        ("Source", "Bequest of Lillie P. Bliss, 1941"),
        ("Identifier", "472.1941"), ("Medium", "Oil"),
        ("Technik", "\u00d6l")]
    assert pairs[-1][0] == ' lang="de"'
    (licence,) = page.find("a", rel="license")
    assert licence["href"] == CC_BY
    assert '>CC BY 4.0</a>' in html
    assert "Credit:" in html and "Courtesy of the Example Museum" in html
    # and for search engines
    data = json_ld(html)
    path = url[len(BASE):]
    assert data["@type"] == ["ImageObject", "VisualArtwork"]
    assert data["name"] == "Starry night"
    assert data["creator"] == {"@type": "Person", "name": "Vincent van Gogh"}
    assert data["dateCreated"] == "1889-06"
    assert data["license"] == CC_BY
    assert data["identifier"] == "472.1941"
    assert data["creditText"] == "Courtesy of the Example Museum"
    assert data["url"] == path  # a path, never the host (H1)
    assert data["thumbnailUrl"].startswith(path + "/v/")


BAD = [
    ({"rights": "CC-BY"}, "rights must be a Creative Commons URI"),
    ({"rights": "http://creativecommons.org/licenses/by/4.0"},
     "rights must be a Creative Commons URI"),
    ({"rights": "http://creativecommons.org/licenses/by/4.0/deed.en"},
     "rights must be a Creative Commons URI"),
    ({"rights": "http://creativecommons.org/licenses/by-xx/4.0/"},
     "rights must be a Creative Commons URI"),
    ({"rights": "http://rightsstatements.org/page/InC/1.0/"},
     "rights must be a Creative Commons URI"),
    ({"rights": "http://rightsstatements.org/vocab/InC/2.0/"},
     "rights must be a Creative Commons URI"),
    ({"rights": "javascript:alert(1)//creativecommons.org/licenses/by/4.0/"},
     "rights must be a Creative Commons URI"),
    ({"date": "June 1889"}, "Date must be an ISO 8601 date"),
    ({"date": "1889-13"}, "is not a day of the calendar"),
    ({"date": "1889-02-30"}, "is not a day of the calendar"),
    ({"date": "1889-06-15T10:30"}, "Date must be an ISO 8601 date"),
    ({"language": "English"}, "Language must be a language tag"),
    ({"language": "none"}, "Language must be a language tag"),
    ({"creator": "<b>van Gogh</b>"}, "Creator cannot contain &lt; or &gt;."),
    ({"summary": "a <script>"}, "Summary cannot contain &lt; or &gt;."),
    ({"metadata_label:list": "Medium"},
     "metadata pair 1 needs both a label and a value"),
    ({"metadata_label:list": "M", "metadata_value:list": "<i>x</i>"},
     "Metadata value cannot contain &lt; or &gt;."),
    ({"metadata_label:list": "M", "metadata_value:list": "x",
      "metadata_language:list": "x y"}, "Metadata language must be"),
]


def test_bad_values_are_refused_and_nothing_changes(folder, photo):
    url = add(folder, photo, "p", title="Kept")
    post(url + "/manage_describe", [("creator", "Kept"),
                                    ("rights", IN_COPYRIGHT)])
    before = described(folder)
    for values, message in BAD:
        form = dict([("creator", "Changed"), ("summary", "Changed")],
                    **values)
        b = post(url + "/manage_describe", list(form.items()))
        assert status(b) == 400, values
        assert message in b.contents, (values, b.contents[-3000:])
        assert described(folder) == before, values
    # changes by POST from this site only
    b = fetch(url + "/manage_describe?creator=GET", login=True)
    assert status(b) in (403, 404, 405)
    for headers in ([("Origin", "http://evil.example")],
                    [("Sec-Fetch-Site", "cross-site")]):
        b = post(url + "/manage_describe", [("creator", "Evil")], headers)
        assert status(b) == 403, headers
    # and by those who may change the image only
    anonymous = browser(login=False)
    anonymous.post(url + "/manage_describe", "creator=Anonymous",
                   "application/x-www-form-urlencoded")
    assert status(anonymous) in (401, 403)
    assert described(folder) == before


def test_the_site_rights_attribution_and_provider_are_the_defaults(
        folder, photo):
    url = add(folder, photo, "p", title="Plain")
    doc = manifest_of(url)
    assert not {"rights", "requiredStatement", "provider", "summary",
                "metadata", "navDate"} & set(doc)
    assert doc["label"] == {"none": ["Plain"]}
    html = fetch(url).contents
    assert "zoomify-about" not in html and "aria-describedby" not in html
    with product_config(**{
            "iiif-rights": "http://rightsstatements.org/vocab/InC/1.0/",
            "iiif-required-statement": "Example Museum",
            "iiif-provider": "https://museum.example.org/ Example Museum"}):
        doc = manifest_of(url)
        assert doc["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
        assert doc["requiredStatement"] == {
            "label": {"en": ["Attribution"]},
            "value": {"none": ["Example Museum"]}}
        assert doc["provider"] == [{
            "id": "https://museum.example.org/", "type": "Agent",
            "label": {"none": ["Example Museum"]},
            "homepage": [{"id": "https://museum.example.org/",
                          "type": "Text",
                          "label": {"none": ["Example Museum"]},
                          "format": "text/html"}]}]
        html = fetch(url).contents
        assert ">In Copyright</a>" in html
        assert json_ld(html)["license"] == \
            "http://rightsstatements.org/vocab/InC/1.0/"
        tab = fetch(url + "/manage_main", login=True).contents
        assert "The site&#x27;s: In Copyright" in tab or \
            "The site's: In Copyright" in tab
        # the image's own rights win over the site's
        post(url + "/manage_describe", [("rights", CC_BY)])
        assert manifest_of(url)["rights"] == CC_BY
        assert json.loads(fetch(url + "/iiif/info.json").contents)[
            "rights"] == CC_BY


def test_the_json_ld_cannot_end_its_script(folder, photo):
    """Texts with markup are refused, but one stored before (or by code)
    must not break out of the page's <script> either."""
    url = add(folder, photo, "p", title="Safe")
    evil = "</script><script>alert(1)</script><!--"
    with zope_root() as app:
        image = app[folder]["p"]
        image.summary = evil
        image.creator = "</SCRIPT >\u2028"
    html = fetch(url).contents
    assert "</script><script>alert(1)" not in html
    assert "</SCRIPT >" not in html
    data = json_ld(html)
    assert data["description"] == evil
    assert data["creator"]["name"] == "</SCRIPT >\u2028"
    # the visible text shows it as text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html


def test_rights_names_and_choices():
    from ZoomifyImage.rights import check_rights
    from ZoomifyImage.rights import choices
    from ZoomifyImage.rights import name_of
    assert name_of("http://creativecommons.org/licenses/by-nc-sa/4.0/") \
        == "CC BY-NC-SA 4.0"
    assert name_of("http://creativecommons.org/licenses/by/3.0/de/") == \
        "CC BY 3.0 (de)"
    assert name_of("http://creativecommons.org/licenses/by/4.0/de/") is None
    assert name_of("http://creativecommons.org/publicdomain/zero/1.0/") == \
        "CC0 1.0"
    assert name_of("http://rightsstatements.org/vocab/NoC-US/1.0/") == \
        "No Copyright - United States"
    assert check_rights(" https://rightsstatements.org/vocab/UND/1.0/ ") \
        == "http://rightsstatements.org/vocab/UND/1.0/"
    assert check_rights("") == ""
    offered = dict(choices())
    assert len(offered) == 6 + 2 + 12 and all(offered.values())


def test_navdate_is_an_xsd_datetime_in_utc():
    from ZoomifyImage.description import check_date
    from ZoomifyImage.description import nav_date
    for date, expected in (
            ("0800", "0800-01-01T00:00:00Z"),  # four digits, as xsd wants
            ("1889", "1889-01-01T00:00:00Z"),
            ("1889-06", "1889-06-01T00:00:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
            ("1889-06-15T10:30:00+01:00", "1889-06-15T09:30:00Z"),
            ("1889-06-15T10:30Z", "1889-06-15T10:30:00Z")):
        assert nav_date(check_date(date)) == expected, date
    for date in ("0000", "0001-01-01T00:30:00+01:00", "1900-02-29"):
        with pytest.raises(ValueError) as error:
            check_date(date)
        assert "is not a day of the calendar" in str(error.value)


# ------------------------------------------------------------ zoomify-import

def test_import_takes_a_csv_row_or_a_sidecar_json(tmp_path):
    from tests.images import save
    from tests.images import smooth
    from ZoomifyImage.importer import ImportFailed
    from ZoomifyImage.importer import description_for
    photo = str(save(smooth(300, 200), tmp_path / "harbour.png"))
    csv = tmp_path / "records.csv"
    csv.write_text(
        "file,title,creator,date,rights,metadata:Medium,metadata:Technik@de"
        "\nother.png,Other,,,,,\n"
        "harbour.png,The harbour,Anna Example,1901,"
        "http://creativecommons.org/publicdomain/mark/1.0/,Oil,\u00d6l\n",
        encoding="utf-8")
    values = description_for(photo, str(csv))
    assert values["title"] == "The harbour"
    assert values["creator"] == "Anna Example" and values["date"] == "1901"
    assert [tuple(p.__dict__.values()) for p in values["metadata"]] == [
        ("Medium", "Oil", ""), ("Technik", "\u00d6l", "de")]
    # no sidecar: nothing; a sidecar: its fields, checked
    assert description_for(photo) == {}
    sidecar = tmp_path / "harbour.png.json"
    sidecar.write_text(json.dumps({
        "summary": "From the pier", "language": "en",
        "metadata": [{"label": "Medium", "value": "Oil"}]}))
    values = description_for(photo)
    assert values["summary"] == "From the pier"
    assert values["metadata"][0].label == "Medium"
    for text, message in (
            ('{"painter": "x"}', "unknown field 'painter'"),
            ('{"date": "yesterday"}', "Date must be an ISO 8601 date"),
            ('{"title": "<b>"}', "A title cannot contain < or >."),
            ("[1, 2", "cannot read it as JSON")):
        sidecar.write_text(text)
        with pytest.raises(ImportFailed) as error:
            description_for(photo)
        assert str(error.value).startswith(str(sidecar) + ": ")
        assert message in str(error.value)
    for text, message in (
            ("file,painter\nharbour.png,x\n", "unknown column 'painter'"),
            ("title\nx\n", "no 'file' column"),
            ("file,rights\nharbour.png,CC BY\n",
             "rights must be a Creative Commons URI"),
            ("file,title\nnot-this.png,x\n", "no row for harbour.png")):
        csv.write_text(text)
        with pytest.raises(ImportFailed) as error:
            description_for(photo, str(csv))
        assert str(error.value).startswith(str(csv) + ": ")
        assert message in str(error.value)


def test_zoomify_import_describes_the_image(tmp_path, capsys):
    """The command, on a stopped site: a bad row refuses the file before
    anything is added; a good one lands with the image."""
    from tests.images import save
    from tests.images import smooth
    s = ZopeServer()  # not started: the command opens its Data.fs
    photo = str(save(smooth(300, 200), tmp_path / "harbour.png"))
    csv = tmp_path / "records.csv"
    csv.write_text("file,title,date\nharbour.png,The harbour,someday\n")
    data_fs = os.path.join(s.home, "var", "Data.fs")
    size = os.path.getsize(data_fs) if os.path.exists(data_fs) else None
    # refused before the site is opened: in this process
    from ZoomifyImage.cli import import_main
    assert import_main(["--zope-conf", s.conf, "--metadata", str(csv),
                        photo]) == 1
    assert capsys.readouterr().err.strip() == (
        "zoomify-import: error: %s: Date must be an ISO 8601 date: a year "
        "(1889), a month (1889-06), a day (1889-06-15) or a day and a time "
        "with its zone (1889-06-15T10:30:00Z), not 'someday'" % csv)
    assert (os.path.getsize(data_fs) if os.path.exists(data_fs)
            else None) == size  # nothing was added
    csv.write_text("file,title,creator,rights,metadata:Medium\n"
                   "harbour.png,The harbour,Anna Example,"
                   "http://rightsstatements.org/vocab/NKC/1.0/,Oil\n")
    result = subprocess.run([import_command(), "--zope-conf", s.conf,
                             "--quiet",
                             "--metadata", str(csv), photo],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # what the command committed, read from the site's database
    from ZODB import DB
    from ZODB.FileStorage import FileStorage
    db = DB(FileStorage(data_fs, read_only=True, blob_dir=os.path.join(
        s.home, "var", "blobs")))
    try:
        with db.transaction() as conn:
            image = conn.root()["Application"]["harbour"]
            about = image.descriptive_metadata()
            assert (about.title, about.creator) == ("The harbour",
                                                    "Anna Example")
            assert about.rights == \
                "http://rightsstatements.org/vocab/NKC/1.0/"
            assert [(p.label, p.value) for p in about.metadata] == [
                ("Medium", "Oil")]
            assert image.status == "ready"
    finally:
        db.close()
