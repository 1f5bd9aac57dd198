"""Adding many images at once, through the real publisher: each file is a
tus upload of its own (FOLDER/@@zoomify-upload), its image's id the file's
name without the extension, made a valid plain URL name; a name already in
use is refused for that file alone, with the file and the reason named.
The browser's side (several files chosen or dropped, a line each) is in
test_upload_browser.py."""

import base64
import io
import os

import pytest
from PIL import Image
from webtest import TestApp

from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import wsgi_app
from tests.zope_fixtures import zope_root
from ZoomifyImage.content import MANY_WITHOUT_SCRIPT
from ZoomifyImage.content import default_id
from ZoomifyImage.web_errors import AnyBadRequest
from ZoomifyImage.web_errors import plain_text

TUS = {"Tus-Resumable": "1.0.0"}
AUTH = {"Authorization": "Basic " + base64.b64encode(
    ("%s:%s" % ADMIN).encode()).decode()}


def jpeg(seed, size=(120, 80)):
    out = io.BytesIO()
    Image.fromarray(smooth(size[0], size[1], seed)).save(out, "JPEG")
    return out.getvalue()


def meta(**values):
    return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode())
                    for k, v in values.items())


def tus_add(app, folder, filename, data, **fields):
    """One file as the add form's script sends it: create, then one PATCH.
    The last answer (a webtest response)."""
    created = app.post("/%s/@@zoomify-upload" % folder, headers=dict(
        TUS, **AUTH, **{"Upload-Length": str(len(data)),
                        "Upload-Metadata": meta(filename=filename,
                                                **fields)}), status="*")
    if created.status_int != 201:
        return created
    return app.request(created.headers["Location"], method="PATCH",
                       body=data, status="*", headers=dict(
                           TUS, **AUTH, **{
                               "Upload-Offset": "0", "Content-Type":
                               "application/offset+octet-stream"}))


def ids(folder):
    with zope_root(commit=False) as app:
        return sorted(app[folder].objectIds())


@pytest.mark.parametrize("filename, expected", [
    ("photo12000.jpg", "photo12000"),
    ("Photo12000.JPG", "Photo12000"),           # case is kept
    ("Château d'If (2).tif", "Chateau-d-If-2"),  # accents, quotes, spaces
    ("C:\\scans\\map 1.png", "map-1"),           # a Windows path
    ("_hidden.png", "hidden"),                   # Zope refuses a leading _
    ("aq_parent.png", "aq-parent"),              # nor acquisition's prefix
    ("北京.jpg", "image"),                       # nothing left
    ("scan.v2.final.jpg", "scan.v2.final"),      # the last extension goes
    ("noextension", "noextension"),
])
def test_id_from_the_file_name(filename, expected):
    assert default_id(filename) == expected


def test_five_files_one_damaged(folder):
    """Five uploads into one folder, as the form sends them: four images
    added under their file names' ids, the damaged one refused in one
    answer naming the file and the reason, and nothing else lost."""
    app = TestApp(wsgi_app())
    names = ["photo12000.jpg", "Château d'If.jpg", "map 1.jpg",
             "broken.jpg", "last.jpg"]
    answers = {}
    for seed, name in enumerate(names):
        data = jpeg(seed)
        if name == "broken.jpg":
            data = data[:len(data) // 3]  # cut off: damaged
        answers[name] = tus_add(app, folder, name, data)
    refused = answers.pop("broken.jpg")
    assert refused.status_int == 400
    assert refused.text.startswith("broken.jpg: cannot read the image")
    for name, answer in answers.items():
        assert answer.status_int == 204, (name, answer.text)
    added = ["Chateau-d-If", "last", "map-1", "photo12000"]
    assert ids(folder) == added
    with zope_root(commit=False) as root:
        for id in added:
            image = root[folder][id]
            assert image.current_status() == "ready"
        assert root[folder]["map-1"].title == "map 1.jpg"


def test_a_name_in_use_is_refused_for_that_file_alone(folder):
    """The same files added again (a second drop of the same folder) are
    refused one by one, never added as copies under new names."""
    app = TestApp(wsgi_app())
    assert tus_add(app, folder, "harbour.jpg", jpeg(1)).status_int == 204
    again = tus_add(app, folder, "harbour.jpg", jpeg(2))
    assert again.status_int == 400
    assert again.text == (
        'harbour.jpg: the id "harbour" (from the file name) is already in '
        "use in this folder; rename the file or give the image an id.")
    # a file whose name makes the same id is refused alike
    assert "harbour.png" in tus_add(app, folder, "harbour.png",
                                    jpeg(3)).text
    # with an id of its own it is added
    assert tus_add(app, folder, "harbour.jpg", jpeg(4),
                   id="harbour2").status_int == 204
    assert ids(folder) == ["harbour", "harbour2"]
    with zope_root(commit=False) as root:
        image = root[folder]["harbour"]
        assert image.width == 120 and image.original_size == len(jpeg(1))


def test_the_plain_form_takes_one_file(folder):
    """Without JavaScript the form posts its files itself: several are
    refused with the reason, nothing added; one is added as before."""
    app = TestApp(wsgi_app())
    url = "/%s/manage_addProduct/ZoomifyImage/manage_addZoomifyImage" \
        % folder
    two = app.post(url, {"id": ""}, headers=AUTH, status="*", upload_files=[
        ("file", "a.jpg", jpeg(1)), ("file", "b.jpg", jpeg(2))])
    assert two.status_int == 400
    assert MANY_WITHOUT_SCRIPT.replace(" ", "") in two.text.replace(
        "\n", "").replace(" ", "")
    assert ids(folder) == []
    one = app.post(url, {"id": ""}, headers=AUTH, status="*",
                   upload_files=[("file", "Lake view.jpg", jpeg(3))])
    assert one.status_int == 302, one.text[:300]
    assert ids(folder) == ["Lake-view"]


DESCRIPTION = {"summary": "The pier at dawn, from the lighthouse.",
               "creator": "Anna Example", "date": "1901-06",
               "rights": "https://creativecommons.org/licenses/by-sa/4.0/"}


def shows_description(app, folder, id):
    """The description as the image's manifest shows it."""
    manifest = app.get("/%s/%s/manifest.json" % (folder, id)).json
    return {"summary": manifest["summary"], "rights": manifest["rights"],
            "navDate": manifest["navDate"],
            "metadata": manifest["metadata"]}


SHOWN = {"summary": {"none": [DESCRIPTION["summary"]]},
         "rights": "http://creativecommons.org/licenses/by-sa/4.0/",
         "navDate": "1901-06-01T00:00:00Z",
         "metadata": [
             {"label": {"en": ["Creator"]}, "value": {"none": [
                 "Anna Example"]}},
             {"label": {"en": ["Date"]}, "value": {"none": ["1901-06"]}}]}


def test_the_add_form_describes_what_it_adds(folder):
    """The add form offers summary, creator, date and rights (the site's
    first, then the licences and statements of rights.py); the plain form
    and each tus upload give them to the images they add; a bad value is
    refused naming the field, nothing added (a tus upload at its
    creation, before any byte is sent, on the file's own line)."""
    from ZoomifyImage.uploads import upload_dir
    app = TestApp(wsgi_app())
    form = app.get("/%s/manage_addProduct/ZoomifyImage/"
                   "manage_addZoomifyImageForm" % folder, headers=AUTH)
    fields = form.html.find("form", action="manage_addZoomifyImage")
    assert fields["data-zoomify-fields"].split() == [
        "id", "title", "storage", "quality", "summary", "creator", "date",
        "rights"]
    options = [(o["value"], o.text) for o in
               fields.find("select", attrs={"name": "rights"})("option")]
    assert options[0] == ("", "None (the site sets none)")
    assert ("http://creativecommons.org/licenses/by-sa/4.0/",
            "CC BY-SA 4.0") in options
    assert ("http://rightsstatements.org/vocab/InC/1.0/",
            "In Copyright") in options
    for name in ("summary", "creator", "date"):
        assert fields.find(attrs={"name": name}) is not None, name
    # the plain form
    url = "/%s/manage_addProduct/ZoomifyImage/manage_addZoomifyImage" \
        % folder
    added = app.post(url, dict(DESCRIPTION, id=""), headers=AUTH,
                     status="*", upload_files=[("file", "Lake view.jpg",
                                                jpeg(3))])
    assert added.status_int == 302, added.text[:300]
    assert shows_description(app, folder, "Lake-view") == SHOWN
    bad = app.post(url, dict(DESCRIPTION, id="", date="June 1901"),
                   headers=AUTH, status="*",
                   upload_files=[("file", "pier.jpg", jpeg(4))])
    assert bad.status_int == 400
    assert "Date must be an ISO 8601 date" in bad.html.find(
        id="zoomify-error").text
    assert ids(folder) == ["Lake-view"]
    # the uploader: each file with the form's description
    for seed, name in enumerate(["pier.jpg", "crane.jpg"]):
        answer = tus_add(app, folder, name, jpeg(seed), **DESCRIPTION)
        assert answer.status_int == 204, answer.text
        assert shows_description(app, folder, name[:-4]) == SHOWN
    before = sorted(os.listdir(upload_dir()))
    for field, value, says in (
            ("rights", "CC BY 4.0", "rights must be a Creative Commons"),
            ("date", "1901-13", "is not a day of the calendar"),
            ("creator", "<b>Anna</b>", "cannot contain < or >")):
        refused = app.post("/%s/@@zoomify-upload" % folder, status="*",
                           headers=dict(TUS, **AUTH, **{
                               "Upload-Length": "1000",
                               "Upload-Metadata": meta(
                                   filename="boats.jpg", **dict(
                                       DESCRIPTION, **{field: value}))}))
        assert refused.status_int == 400, field
        assert "Location" not in refused.headers
        line = refused.text
        assert line.startswith("boats.jpg: ") and says in line, line
        assert "\n" not in line.strip()
    assert sorted(os.listdir(upload_dir())) == before  # no upload made
    assert ids(folder) == ["Lake-view", "crane", "pier"]


def test_a_folder_view_name_is_refused(folder):
    """An image must not take the name of one of the folder's own pages
    (FOLDER/gallery, FOLDER/collection.json...): it would hide it. The
    add form, a tus upload of gallery.jpg and a rename are refused with
    the reserved name in the message; the gallery still answers."""
    app = TestApp(wsgi_app())
    url = "/%s/manage_addProduct/ZoomifyImage/manage_addZoomifyImage" \
        % folder
    for id in ("gallery", "collection.json", "iiif-activity"):
        form = app.post(url, {"id": id}, headers=AUTH, status="*",
                        upload_files=[("file", "a.jpg", jpeg(1))])
        assert form.status_int == 400
        assert ('The id &#34;%s&#34; is reserved' % id in form.text
                or 'The id &quot;%s&quot; is reserved' % id in form.text), \
            form.text[-2000:]
    upload = tus_add(app, folder, "gallery.jpg", jpeg(2))
    assert upload.status_int == 400
    assert upload.text.startswith(
        'gallery.jpg: The id "gallery" is reserved'), upload.text
    assert ids(folder) == []
    # renamed onto the name: refused, the image keeps its own
    assert tus_add(app, folder, "harbour.jpg", jpeg(3)).status_int == 204
    with zope_root(commit=False) as root:
        with pytest.raises(AnyBadRequest) as refused:
            root[folder].manage_renameObject("harbour", "gallery")
        assert '"gallery" is reserved' in plain_text(refused.value)
    assert ids(folder) == ["harbour"]
    gallery = app.get("/%s/gallery" % folder)
    assert gallery.status_int == 200
    assert "text/html" in gallery.headers["Content-Type"]
    assert "/%s/harbour" % folder in gallery.text
