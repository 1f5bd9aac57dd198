"""What the degraded-access tests share (test_degraded*.py,
test_iiif_auth*.py): users with and without full resolution, an image
with a preview size, and the crawler that asks every tile and IIIF
request above the preview."""

import base64

from webtest import TestApp

from tests.images import colourful
from tests.zope_fixtures import put_jpeg
from tests.zope_fixtures import wsgi_app
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.resolution import FULL_RESOLUTION
from ZoomifyImage.resolution import cut_layout

RESEARCHER = ("researcher", "r-secret")   # has full resolution
VISITOR = ("visitor", "v-secret")         # logged in, preview only
ORIGIN = "http://client.example"
MAX_AREA = 4096 * 4096  # iiif-max-area's default: larger is a 400


def basic(user):
    return "Basic " + base64.b64encode(("%s:%s" % user).encode()).decode()


def app():
    return TestApp(wsgi_app())


def picture(size, seed=1):
    """A colourful picture of ``size``, made small and scaled up: the big
    trap sizes in well under a second."""
    import numpy as np
    from PIL import Image
    w, h = size
    small = colourful(max(1, w // 8), max(1, h // 8), seed=seed)
    return np.asarray(Image.fromarray(small).resize((w, h),
                                                    Image.BILINEAR))


def degraded_image(folder, tmp_path, size, limit=1200, id="img", seed=1):
    """A JPEG image of ``size`` in ``folder`` that anonymous and VISITOR
    see up to ``limit`` pixels, RESEARCHER (role Researcher) whole: its
    path, its pixels, its full and cut layouts."""
    array = picture(size, seed)
    path = put_jpeg(folder, id, array, tmp_path)
    with zope_root() as root:
        users = root.acl_users
        for name, password, roles in ((RESEARCHER + (["Researcher"],)),
                                      (VISITOR + ([],))):
            if users.getUser(name) is None:
                users._doAddUser(name, password, roles, [])
        if "Researcher" not in root.valid_roles():
            root._addRole("Researcher")
        image = root.unrestrictedTraverse(path.lstrip("/"))
        image.manage_permission(FULL_RESOLUTION,
                                ["Manager", "Owner", "Researcher"])
        image.manage_edit(preview_size=str(limit))
    layout = Layout(*size)
    return path, array, layout, cut_layout(layout, limit)


def above(layout, cut):
    """Every tile name of ``layout`` above the ``cut`` tiers."""
    return [layout.tile_name(t, c, r) for t, c, r in layout.all_tiles()
            if t >= cut.num_tiers]


def iiif_above(layout, cut):
    """IIIF requests (paths below IMAGE/iiif/) that need a tier above the
    cut: each stored tile of those tiers, the whole image at those tiers'
    sizes and at max, a percentage, and regions at full scale."""
    asked = []
    n = layout.num_tiers
    for tier in range(cut.num_tiers, n):
        k = n - 1 - tier
        span = layout.tile_size << k
        w, h = layout.tiers[tier]
        if not (w and h):
            continue
        for t, c, r in layout.all_tiles():
            if t != tier:
                continue
            left, top, right, bottom = layout.tile_box(t, c, r)
            asked.append("%d,%d,%d,%d/%d,%d/0/default.jpg" % (
                c * span, r * span, min(span, layout.width - c * span),
                min(span, layout.height - r * span), right - left,
                bottom - top))
        if w * h <= MAX_AREA:
            asked.append("full/%d,%d/0/default.jpg" % (w, h))
            asked.append("full/%d,/0/default.png" % w)
    asked += ["full/max/0/default.jpg", "full/pct:50/0/gray.jpg",
              "full/max/90/default.webp", "square/max/0/default.jpg",
              "0,0,%d,%d/max/0/default.jpg" % (min(layout.width, 300),
                                               min(layout.height, 300)),
              "full/^max/0/default.jpg"]
    return asked
