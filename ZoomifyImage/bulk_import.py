"""zoomify-import of many files: a directory tree, a list of files, or a
CSV (its file column, and the description of each row as --metadata
reads it), into a site that may be running (a ZEO client: docs/zeo.txt).

Each image is added and committed on its own, with one background job
queued for the site's worker processes (or tiled here with
--foreground): an interruption keeps what was committed. A file whose
image is already there (same id in its folder, same file name and size)
is skipped, so a rerun adds only what is missing. A refused file is one
line naming it and the reason; the others go on."""

import collections
import os
import sys

from .importer import ImportFailed
from .importer import checked_description
from .importer import description_for
from .importer import find_folder
from .importer import find_user
from .importer import open_zope
from .pyramid import TilingError

# what a directory walk takes as image files (the engines' formats); other
# files (sidecar JSON, notes) are left alone and counted
IMAGE_EXTENSIONS = frozenset("""
    .jpg .jpeg .jpe .jfif .png .tif .tiff .btf .tf8 .bmp .gif .webp .ppm .pgm
    .pbm .pnm .psd .psb .jp2 .j2k .jpx .jpf .heic .heif .avif .svs .ndpi .scn
    .mrxs .vms .vmu .bif .svslide .exr .fits .dcm
""".split())
CONFLICT_TRIES = 3  # a folder changed by another client meanwhile

Item = collections.namedtuple("Item", "path folders description")
Item.__doc__ = """One file to import: its path, the sub-folders (names in
the tree) it goes into below --path, and its description (None: the
sidecar JSON beside it, if any)."""

Summary = collections.namedtuple("Summary", "added queued skipped refused "
                                 "others")


class Refused(Exception):
    """One file not imported: the message names it and says why."""


def items_of(sources, list_file=None):
    """(items, others): the Items of FILE and DIR arguments (a tree's
    sub-directories are sub-folders) and of a list file (a path a line,
    or a CSV with a file column), in order; ``others``: the files of the
    trees that are not image files by their extension."""
    items, others = [], 0
    for source in sources:
        if os.path.isdir(source):
            found, skipped = _tree(source)
            items += found
            others += skipped
        else:
            items.append(Item(source, (), None))
    if list_file:
        items += _listed(list_file)
    return items, others


def _tree(top):
    items, others = [], 0
    for where, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(where, top)
        folders = () if relative == "." else tuple(relative.split(os.sep))
        images = [name for name in sorted(files) if not name.startswith(
            ".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS]
        # sidecar JSONs (photo.jpg.json, photo.json) are read with their
        # image: not counted as left alone
        sidecars = {name + ".json" for name in images} | {
            os.path.splitext(name)[0] + ".json" for name in images}
        items += [Item(os.path.join(where, name), folders, None)
                  for name in images]
        others += len([name for name in files if not name.startswith(".")
                       and name not in images and name not in sidecars])
    return items, others


def _listed(list_file):
    """The Items of a list file: a CSV (by its .csv name) with a file
    column and the description columns of --metadata, or one path a
    line (# begins a comment); paths relative to the list's directory."""
    from .description_files import read_csv_rows
    base = os.path.dirname(os.path.abspath(list_file))
    if list_file.lower().endswith(".csv"):
        try:
            rows = read_csv_rows(list_file)
        except ValueError as e:
            raise ImportFailed(str(e)) from None
        return [Item(os.path.join(base, name), (),
                     _RowDescription(values, "%s, row %d" % (list_file,
                                                            number + 2)))
                for number, (name, values) in enumerate(rows)]
    try:
        with open(list_file, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise ImportFailed("%s: cannot read the list (%s)" % (list_file, e))
    return [Item(os.path.join(base, line), (), None) for line in lines
            if line and not line.startswith("#")]


class _RowDescription:
    """A CSV row's description, checked when its file is imported (a bad
    row refuses that file alone)."""

    def __init__(self, values, where):
        self.values, self.where = values, where

    def checked(self):
        return checked_description(self.values, self.where)


def _rows_by_file(csv_path):
    """{file as named, and its base name: _RowDescription} of a --metadata
    CSV (read once, not once a file)."""
    from .description_files import read_csv_rows
    try:
        rows = read_csv_rows(csv_path)
    except ValueError as e:
        raise ImportFailed(str(e)) from None
    found = {}
    for number, (name, values) in enumerate(rows):
        row = _RowDescription(values, "%s, row %d" % (csv_path, number + 2))
        found.setdefault(name, row)
        found.setdefault(os.path.basename(name), row)
    return found


class BulkImport:
    """One Zope opened for many files (import_all)."""

    def __init__(self, zope_conf, path, user=None, storage=None,
                 quality=None, background=True, metadata=None):
        from AccessControl.SecurityManagement import newSecurityManager
        from Testing.makerequest import makerequest
        from zope.globalrequest import setRequest

        from . import jobs
        # this process must not claim the site's jobs (it exits when done)
        jobs.pool.enabled = False
        self.app = makerequest(open_zope(zope_conf))
        setRequest(self.app.REQUEST)
        self.path = path
        find_folder(self.app, path)  # ImportFailed at once, before a bar
        newSecurityManager(None, find_user(self.app, user))
        self.storage, self.quality = storage or "", quality or ""
        self.background = background
        self.rows = _rows_by_file(metadata) if metadata else None
        self.metadata = metadata

    def close(self):
        from AccessControl.SecurityManagement import noSecurityManager
        from zope.globalrequest import clearRequest
        noSecurityManager()
        clearRequest()
        self.app._p_jar.close()

    def one(self, item):
        """Import one Item: ("added", url, queued) or ("skipped", url);
        Refused naming the file."""
        import transaction
        from ZODB.POSException import ConflictError
        for attempt in range(CONFLICT_TRIES):
            try:
                result = self._add(item)
                transaction.commit()
                return result
            except ConflictError:
                transaction.abort()
                if attempt == CONFLICT_TRIES - 1:
                    raise Refused("%s: the folder kept changing (conflicts "
                                  "with other clients); try again"
                                  % item.path)
            except BaseException:
                transaction.abort()
                raise

    def _add(self, item):
        import transaction

        from . import tiling
        from .content import add_image
        from .content import default_id
        from .interfaces import IZoomifyImage
        from .pyramid.sources import check_readable_file
        from .web_errors import AnyBadRequest
        name = os.path.basename(item.path)
        try:
            check_readable_file(item.path)
            description = self._description(item)
        except (TilingError, ImportFailed) as e:
            raise Refused(_naming(e, item.path)) from None
        folder = self._folder(item.folders)
        id = default_id(name)
        url = "/".join(folder.getPhysicalPath() + (id,))
        if folder.hasObject(id):  # objectIds() is a list: O(n) an image
            there = folder._getOb(id)
            if IZoomifyImage.providedBy(there) and there.filename == name \
                    and there.original_size == os.path.getsize(item.path):
                return "skipped", url
            raise Refused("%s: the id \"%s\" is in use in %s by another "
                          "file or object; rename the file"
                          % (item.path, id, "/".join(
                              folder.getPhysicalPath()) or "/"))
        try:
            if self.background:
                # the header, as the add form reads it: not an image, or
                # over the limits, is refused here and now
                tiling.plan(item.path, name, 256)
            with open(item.path, "rb") as f:
                # titled by the file name, as the add form does
                add_image(folder, f, id=id, title=description.pop(
                    "title", name), storage=self.storage,
                    quality=self.quality, background=self.background)
        except (TilingError, AnyBadRequest, ValueError) as e:
            raise Refused(_naming(e, item.path)) from None
        image = folder._getOb(id)
        if description:
            image.describe(**description)
        transaction.get().note("zoomify-import %s" % url)
        return "added", url, image.current_status() == "queued"

    def _description(self, item):
        if isinstance(item.description, _RowDescription):
            return item.description.checked()
        if self.rows is None:
            return dict(description_for(item.path))  # a sidecar JSON
        # the --metadata CSV's row, read once for all files
        row = self.rows.get(item.path) or self.rows.get(
            os.path.basename(item.path))
        if row is None:
            raise ImportFailed("%s: no row for %s (its file column names "
                               "the image file)" % (
                                   self.metadata,
                                   os.path.basename(item.path)))
        return row.checked()

    def _folder(self, names):
        """The folder at --path, and below it the tree's sub-folders
        (made when missing, ids as for images)."""
        from OFS.Folder import manage_addFolder

        from .content import safe_id
        folder = find_folder(self.app, self.path)
        for name in names:
            id = safe_id(name)
            if not folder.hasObject(id):
                manage_addFolder(folder, id)
            child = folder._getOb(id)
            if not hasattr(child, "_setObject"):
                raise Refused("%s: %s is not a folder"
                              % (name, "/".join(child.getPhysicalPath())))
            folder = child
        return folder


def _naming(error, path):
    """The message of ``error`` beginning with the file's path (its
    plain text: a terminal's line, not HTML)."""
    from .web_errors import plain_text
    message = plain_text(error)
    base = os.path.basename(path)
    if message.startswith(path):
        return message
    if message.startswith(base + ":"):
        message = message[len(base) + 1:].lstrip()
    return "%s: %s" % (path, message)


def import_all(zope_conf, path, items, others=0, progress=False,
               refused=None, **options):
    """Import ``items`` into the folder at ``path``; a Summary.
    ``refused(line)`` is told each refusal as it happens; ``progress``
    draws a bar of images on stderr."""
    from tqdm import tqdm
    job = BulkImport(zope_conf, path, **options)
    added = queued = skipped = failed = 0
    bar = tqdm(total=len(items), unit="image", desc="importing",
               disable=not progress, file=sys.stderr, mininterval=0.2)
    try:
        for item in items:
            try:
                result = job.one(item)
            except Refused as e:
                failed += 1
                line = "zoomify-import: refused: %s" % e
                if refused is not None:
                    refused(line)
                elif progress:
                    bar.write(line, file=sys.stderr)
                else:
                    print(line, file=sys.stderr)
            else:
                if result[0] == "skipped":
                    skipped += 1
                else:
                    added += 1
                    queued += result[2]
            bar.update(1)
    finally:
        bar.close()
        job.close()
    return Summary(added, queued, skipped, failed, others)


def summary_text(summary):
    text = "zoomify-import: %d added" % summary.added
    if summary.queued:
        text += " (%d queued: the site's worker processes tile them)" \
            % summary.queued
    text += ", %d already there (skipped), %d refused" % (
        summary.skipped, summary.refused)
    if summary.others:
        text += "; %d other files left alone (not image files by their " \
            "extension)" % summary.others
    return text
