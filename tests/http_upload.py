"""HTTP to a Zope process of its own (tests and benchmarks/): a GET, a form
POST, and a multipart/form-data POST that streams the file from disk.
Answers are (status, headers, body) or, for post_form, (status, body);
HTTP errors are answers too, and redirects are not followed by a POST."""

import base64
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

CHUNK = 1 << 20   # post_form sends the file in blocks of this size


def authorization(auth):
    """The Authorization header's value for (user, password)."""
    token = base64.b64encode(("%s:%s" % tuple(auth)).encode()).decode()
    return "Basic " + token


def post_form(url, fields, file_field, path, auth, content_type="image/jpeg",
              timeout=600, when_sent=None):
    """POST ``fields`` and the file at ``path`` as multipart/form-data, the
    file read from disk in blocks of CHUNK bytes, never whole; call
    ``when_sent()`` once the whole body is sent. (status, body)."""
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
    parts = urllib.parse.urlsplit(url)
    connection_class = (http.client.HTTPSConnection
                        if parts.scheme == "https"
                        else http.client.HTTPConnection)
    connection = connection_class(parts.netloc, timeout=timeout)
    try:
        connection.putrequest("POST", parts.path + (
            "?" + parts.query if parts.query else ""))
        connection.putheader("Content-Type",
                             "multipart/form-data; boundary=%s" % boundary)
        connection.putheader("Content-Length", str(size))
        connection.putheader("Authorization", authorization(auth))
        connection.endheaders()
        connection.send(head)
        with open(path, "rb") as f:
            block = bytearray(CHUNK)
            view = memoryview(block)
            while True:
                n = f.readinto(block)
                if not n:
                    break
                connection.send(view[:n])
        connection.send(tail)
        if when_sent is not None:
            when_sent()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def post(url, fields, auth=None, timeout=60):
    """(status, headers, body) of a POST of ``fields``, urlencoded; a
    redirect is the answer."""
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    if auth:
        request.add_header("Authorization", authorization(auth))
    try:
        with urllib.request.build_opener(_NoRedirect).open(
                request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get(url, timeout=60, auth=None):
    """(status, headers, body) of a GET, as (user, password) if ``auth``;
    the headers are case-insensitive (an http.client.HTTPMessage)."""
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", authorization(auth))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
