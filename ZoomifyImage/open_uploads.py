"""The user's own unfinished uploads, to see and cancel in the ZMI.

An upload left behind (the page was left, the browser closed) keeps its
disc space reserved and counts against the user's limits (uploads.py)
until it expires. FOLDER/@@zoomify-uploads lists the current user's
unfinished uploads, wherever they go, with their size, the bytes received
and their age, each with a Cancel button (a POST); the add form and the
Edit tab show the same list (``section``) when there is one.
"""

import html
import logging
import time
from urllib.parse import quote

from AccessControl import Unauthorized
from Products.Five.browser import BrowserView

from .csrf import check_same_origin
from .uploads import UPLOAD_ID
from .uploads import Upload
from .uploads import current_owner
from .uploads import open_uploads
from .uploads import remove_expired
from .uploads import upload_dir
from .zmi import size_text

logger = logging.getLogger("ZoomifyImage")

# what a Cancel leads to (never text from the request: no echo)
MESSAGES = {
    "cancelled": "The upload was cancelled and its bytes removed.",
    "busy": "That upload is being sent right now: pause it in its page "
            "first, or try again in a moment.",
    "gone": "That upload does not exist any more.",
}


def age_text(seconds):
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return "%d min ago" % minutes
    hours = minutes // 60
    if hours < 48:
        return "%d h %d min ago" % (hours, minutes % 60)
    return "%d days ago" % (hours // 24)


def mine():
    """(upload, info) of the current user's unfinished uploads, the newest
    first."""
    owner = current_owner()
    directory = upload_dir()
    remove_expired(directory)
    found = [(upload, info) for upload, info in open_uploads(directory)
             if info.get("owner") == owner]
    found.sort(key=lambda pair: -pair[1].get("created", 0))
    return found


class OpenUploadsView(BrowserView):
    """FOLDER/@@zoomify-uploads (and IMAGE/@@zoomify-uploads)."""

    def __call__(self):
        request = self.request
        request.response.setHeader("Cache-Control", "no-store")
        current_owner()  # anonymous: 401
        if request.get("REQUEST_METHOD", "GET").upper() == "POST":
            return self._cancel()
        done = MESSAGES.get(request.form.get("done", ""), "")
        context = self.context
        header = context.manage_page_header(context, request)
        footer = context.manage_page_footer(context, request)
        message = ('<div class="alert alert-success" role="status">%s'
                   '</div>' % html.escape(done)) if done else ""
        body = self.section() or (
            '<p class="zoomify-no-open-uploads">You have no unfinished '
            'uploads.</p>')
        return ('%s<main class="container-fluid"><h2>Your unfinished '
                'uploads</h2>%s%s</main>%s' % (header, message, body,
                                                footer))

    def url(self):
        return self.context.absolute_url_path() + "/@@zoomify-uploads"

    def section(self):
        """The table of the user's unfinished uploads, or "" if none."""
        try:
            uploads = mine()
        except Unauthorized:
            return ""
        if not uploads:
            return ""
        now = time.time()
        rows = []
        for upload, info in uploads:
            length = info.get("length", 0)
            received = min(upload.size(), length)
            if info.get("kind") == "folder":
                what = "new image %s in %s" % (
                    info.get("id") or info.get("filename", ""),
                    info.get("target", ""))
            else:
                what = "new file of %s" % info.get("target", "")
            rows.append(
                '<tr><td>{name}</td><td>{what}</td><td>{size}</td>'
                '<td>{got} ({percent}%)</td><td>{age}</td><td>'
                '<form method="post" action="{action}" class="m-0">'
                '<input type="hidden" name="cancel" value="{id}" />'
                '<button type="submit" class="btn btn-sm '
                'btn-outline-danger zoomify-cancel-upload">Cancel</button>'
                '</form></td></tr>'.format(
                    name=html.escape(info.get("filename", "")),
                    what=html.escape(what), size=size_text(length),
                    got=size_text(received) if received else "nothing",
                    percent=received * 100 // length if length else 0,
                    age=age_text(now - info.get("created", now)),
                    action=html.escape(self.url()), id=upload.id))
        return (
            '<section class="zoomify-open-uploads mt-4">'
            '<h3 class="h5">Your unfinished uploads</h3>'
            '<p class="small">Each keeps its disc space reserved and counts '
            'against your limit until it is finished, cancelled or expires. '
            'To finish one, choose the same file again in the form it came '
            'from, in the same browser.</p>'
            '<table class="table table-sm zoomify-open-uploads-table">'
            '<thead><tr><th>File</th><th>For</th><th>Size</th>'
            '<th>Received</th><th>Started</th><th></th></tr></thead>'
            '<tbody>%s</tbody></table></section>' % "".join(rows))

    def _cancel(self):
        request = self.request
        check_same_origin(request)  # 403 from another site's page
        owner = current_owner()
        upload_id = request.form.get("cancel", "")
        done = "gone"
        if isinstance(upload_id, str) and UPLOAD_ID.match(upload_id):
            upload = Upload(upload_dir(), upload_id)
            info = upload.read_info()
            if info is not None and info.get("owner") == owner and \
                    not info.get("done"):
                try:
                    upload.lock()
                except BlockingIOError:
                    done = "busy"
                else:
                    try:
                        upload.remove()
                    finally:
                        upload.release()
                    logger.info("upload %s cancelled in the list",
                                upload_id)
                    done = "cancelled"
        # a GET page after the POST (a reload asks nothing again)
        request.response.redirect("%s?done=%s" % (self.url(), quote(done)),
                                  status=303)
        return ""
