"""HTTP for the end-to-end tests: a GET, and a multipart/form-data POST
that streams the file from disk."""

import base64
import os
import urllib.request
import uuid


def post_form(url, fields, file_field, path, auth, content_type="image/jpeg",
              timeout=600):
    boundary = uuid.uuid4().hex
    head = b""
    for name, value in fields.items():
        head += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
                 "%s\r\n" % (boundary, name, value)).encode()
    head += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
             "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
             % (boundary, file_field, os.path.basename(path),
                content_type)).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    size = len(head) + os.path.getsize(path) + len(tail)

    def body():
        yield head
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                yield chunk
        yield tail

    request = urllib.request.Request(url, data=body(), method="POST")
    request.add_header("Content-Type",
                       "multipart/form-data; boundary=%s" % boundary)
    request.add_header("Content-Length", str(size))
    token = base64.b64encode(("%s:%s" % auth).encode()).decode()
    request.add_header("Authorization", "Basic " + token)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kw):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(url, timeout=60):
    """(status, headers, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
