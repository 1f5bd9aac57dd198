"""zoomify-import: add an image file to a Zope site from the shell, through
the same constructor as the ZMI add form."""

import os

from . import config
from .progress import tile_progress
from .pyramid import TilingError


class ImportFailed(Exception):
    """A problem with the import that the command reports in one line."""


def open_zope(zope_conf):
    """The Zope application root of an instance (configures Zope once)."""
    if not os.path.isfile(zope_conf):
        raise ImportFailed("%s: no such zope.conf" % zope_conf)
    import logging

    import Zope2
    from zc.lockfile import LockError
    from Zope2.Startup.run import make_wsgi_app

    # zc.lockfile logs the failure with a traceback of its own: the one
    # line below says what it means
    lock_log = logging.getLogger("zc.lockfile")
    was_disabled, lock_log.disabled = lock_log.disabled, True
    try:
        make_wsgi_app({}, zope_conf)
    except LockError:
        raise ImportFailed(
            "the site is running (another process holds its database): "
            "stop it first (make start's Ctrl-C), or run the site over ZEO "
            "to import while it runs (docs/zeo.txt)") from None
    except config.ConfigError as e:
        # a setting refused at start-up (shared_dirs.py: a tile root or
        # upload directory other than the site's): its one line
        raise ImportFailed(str(e)) from None
    finally:
        lock_log.disabled = was_disabled
    return Zope2.app()


def find_folder(app, path):
    folder = app
    for part in [p for p in path.split("/") if p]:
        child = getattr(folder.aq_base, part, None) if hasattr(
            folder, "aq_base") else None
        if child is None or not hasattr(child, "_setObject"):
            raise ImportFailed("%s: no such folder in the site" % path)
        folder = getattr(folder, part)
    return folder


def find_user(app, name):
    from AccessControl.users import system
    users = app.acl_users
    if name:
        user = users.getUser(name)
        if user is None:
            raise ImportFailed("no such user: %s" % name)
        return user.__of__(users)
    for user_id in users.getUserNames():
        user = users.getUser(user_id)
        if "Manager" in user.getRoles():
            return user.__of__(users)
    return system


def description_for(filename, csv_path=None):
    """The description zoomify-import gives ``filename``: its row of the
    CSV at ``csv_path``, else its sidecar JSON (description_files.py),
    else {}; checked here, so that a bad one refuses the file before
    anything is added (ImportFailed names the file and the field)."""
    from .description_files import read_csv
    from .description_files import read_sidecar
    from .description_files import sidecar_of
    where = None
    try:
        if csv_path:
            where = csv_path
            values = read_csv(csv_path, filename)
        else:
            where = sidecar_of(filename)
            values = read_sidecar(where) if where else {}
    except ValueError as e:
        raise _failed(e, where) from None
    return checked_description(values, where)


def checked_description(values, where):
    """``values`` of a description (a CSV row, a sidecar) checked; the
    ImportFailed of a bad one names ``where`` they came from."""
    from .content import check_title
    from .description import check
    try:
        values = dict(values)
        title = values.pop("title", None)
        checked = check(values)
        if title is not None:
            checked["title"] = check_title(title)
    except ValueError as e:
        raise _failed(e, where) from None
    return checked


def _failed(error, where):
    message = str(error)
    if where and not message.startswith(where):
        message = "%s: %s" % (where, message)
    return ImportFailed(message)


def import_file(zope_conf, path, filename, id="", title="", storage=None,
                quality=None, user=None, progress=False, mode="foreground",
                description=None):
    """Add ``filename`` in the folder at ``path``; return its URL path.
    ``description``: the fields of its description (description_for),
    the title among them unless ``title`` is given.

    mode: "foreground" tiles here and now; "background" only queues a job
    for the Zope processes of the site (over ZEO, or at the next start);
    "auto" decides by size like the add form.
    """
    import transaction
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SecurityManagement import noSecurityManager
    from Testing.makerequest import makerequest
    from zope.globalrequest import clearRequest
    from zope.globalrequest import setRequest

    from . import jobs
    from .content import add_image
    from .content import default_id
    from .pyramid.sources import check_readable_file
    from .web_errors import AnyBadRequest
    from .web_errors import plain_text

    try:
        check_readable_file(filename)
    except TilingError as e:
        raise ImportFailed(str(e))
    description = dict(description or {})
    title = title or description.pop("title", "")
    description.pop("title", None)
    # this process exits after its commit: it must not claim the site's
    # queued jobs (it would leave them half done), and a job of its own
    # stays queued for the site's Zope processes
    jobs.pool.enabled = False
    app = makerequest(open_zope(zope_conf))
    setRequest(app.REQUEST)
    try:
        folder = find_folder(app, path)
        newSecurityManager(None, find_user(app, user))
        background = {"auto": None, "background": True,
                      "foreground": False}[mode]
        with open(filename, "rb") as f, tile_progress(progress) as report:
            try:
                new_id = add_image(
                    folder, f, id=id or default_id(os.path.basename(filename)),
                    title=title, storage=storage or "",
                    quality=quality or "", background=background,
                    progress=report)
            except AnyBadRequest as e:  # its plain text: not HTML
                raise ImportFailed("%s: %s" % (filename, plain_text(e)))
        image = folder._getOb(new_id)
        if description:
            image.describe(**description)
        url = "/".join(image.getPhysicalPath())
        queued = image.current_status() == "queued"
        transaction.get().note("zoomify-import %s" % url)
        transaction.commit()
        return url, queued
    except BaseException:
        transaction.abort()
        raise
    finally:
        noSecurityManager()
        clearRequest()
        app._p_jar.close()
