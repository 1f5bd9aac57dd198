"""Create (if missing) and describe a Zope instance that has ZoomifyImage.

    python -m ZoomifyImage.instance var/instance [--host H] [--port P]

writes var/instance/etc/zope.conf (FileStorage with blobs, the product's
ZCML), etc/zope.ini (waitress on HOST:PORT, request bodies up to
--max-body, default 100MB) and an admin user from ZOPE_ADMIN=name:password
(default admin:admin). --zeo HOST:PORT or --relstorage DSN (PostgreSQL)
choose a database several Zope clients share. An existing zope.conf is
kept: edit it freely; zope.ini is written anew at each start.
"""

import argparse
import os
import sys

ZOPE_CONF = """\
%%define INSTANCE %(home)s
instancehome $INSTANCE
%(database)s

<environment>
    CHAMELEON_CACHE $INSTANCE/var/cache
</environment>

# uploads are spooled to disk; what a request may send at all is
# max_request_body_size in zope.ini (the --max-body of make start)
<dos_protection>
    form-memory-limit 4MB
    form-disk-limit 64GB
    form-memfile-limit 64KB
</dos_protection>

<product-config zoomifyimage>
    # where new images keep their tiles: zodb, filesystem or s3 (docs/s3.txt)
    storage zodb
    # the filesystem store's root directory
    tile-root $INSTANCE/var/zoomifyimage
    quality 80
    engine auto
    # bigger images are refused (a few KB of PNG can declare this many);
    # raise it for genuine bigger ones
    max-megapixels 1000
</product-config>
"""

ZOPE_INI = """\
[app:zope]
use = egg:Zope#main
zope_conf = %(home)s/etc/zope.conf

[server:main]
use = egg:waitress#main
host = %(host)s
port = %(port)s
threads = 4
# what any request may send, before anyone is authenticated: waitress
# spools the whole body to disk first, then answers 413 beyond this
max_request_body_size = %(max_body)d

# a request that finds the database gone: reads tried again for a few
# seconds, then 503 with Retry-After (database_unavailable.py)
[filter:database_unavailable]
use = call:ZoomifyImage.database_unavailable:filter_factory

[pipeline:main]
pipeline =
    egg:Zope#httpexceptions
    database_unavailable
    zope

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %%(asctime)s %%(levelname)s [%%(name)s] %%(message)s
"""

FILESTORAGE = """
<zodb_db main>
    <filestorage>
        path $INSTANCE/var/Data.fs
        blob-dir $INSTANCE/var/blobs
    </filestorage>
    mount-point /
</zodb_db>
"""

# several Zope processes share one database through a ZEO server.
# server-sync: a transaction begins after the server's latest commit, so
# that a job claimed by another client is seen as claimed. The blob cache
# is bounded: a worker copies each original it tiles into it. (ZEO's own
# <clientstorage> section: ZODB's older <zeoclient> has no server-sync.)
ZEOCLIENT = """
%%import ZEO
<zodb_db main>
    <clientstorage>
        server %(zeo)s
        blob-dir $INSTANCE/var/blobs
        shared-blob-dir off
        blob-cache-size %(blob_cache_size)d
        server-sync true
    </clientstorage>
    mount-point /
</zodb_db>
"""

# several Zope processes share one PostgreSQL database through RelStorage
# (docs/cluster.txt). The originals are blobs in the database, not in a
# directory the clients share; each client keeps those it reads in a
# blob cache of its own, bounded (a worker copies each original it tiles
# into it). RelStorage polls the database at each transaction's start,
# as ZEO's server-sync: a job claimed by another client is seen claimed.
RELSTORAGE = """
%%import relstorage
<zodb_db main>
    <relstorage>
        blob-dir $INSTANCE/var/blobs
        shared-blob-dir false
        blob-cache-size %(blob_cache_size)d
        <postgresql>
            dsn %(dsn)s
        </postgresql>
    </relstorage>
    mount-point /
</zodb_db>
"""

SITE_ZCML = """\
<configure
    xmlns="http://namespaces.zope.org/zope"
    xmlns:five="http://namespaces.zope.org/five">
  <include package="Zope2.App" />
  <five:loadProducts file="meta.zcml" />
  <include package="ZoomifyImage" />
  <five:loadProducts />
  <five:loadProductsOverrides />
</configure>
"""


def admin_from_env(environ=os.environ):
    value = environ.get("ZOPE_ADMIN", "admin:admin")
    name, sep, password = value.partition(":")
    if not sep or not name or not password:
        raise SystemExit("ZOPE_ADMIN must be name:password, not %r" % value)
    return name, password


DEFAULT_MAX_BODY = "100MB"
# a ZEO client's blob cache: room for the biggest original, and more
DEFAULT_BLOB_CACHE = "10GB"
_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30,
          "TB": 1 << 40}


def parse_size(text):
    """Bytes of "100MB", "2GB", "1048576" (binary units, as zope.conf)."""
    value = str(text).strip().upper()
    number = value.rstrip("KMGTB")
    unit = value[len(number):]
    try:
        size = int(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError("not a size: %r (for example 100MB or 2GB)"
                         % (text,)) from None
    if size < 1:
        raise ValueError("a size must be positive: %r" % (text,))
    return size


def write_instance(home, host="127.0.0.1", port=8080, admin=None,
                   extra_conf="", zeo=None, max_body=DEFAULT_MAX_BODY,
                   blob_cache_size=DEFAULT_BLOB_CACHE, relstorage=None):
    """Create the instance files that are missing; return the paths.
    ``zeo`` (HOST:PORT) or ``relstorage`` (a PostgreSQL DSN) chooses a
    shared database for a new instance instead of its own FileStorage."""
    if zeo and relstorage:
        raise ValueError("one database: a ZEO server or RelStorage")
    home = os.path.abspath(home)
    etc = os.path.join(home, "etc")
    for folder in (etc, os.path.join(home, "var", "blobs"),
                   os.path.join(home, "var", "cache"),
                   os.path.join(home, "var", "log")):
        os.makedirs(folder, exist_ok=True)
    var = os.path.join(home, "var")
    # the database holds the users' password hashes and the tiles of
    # private images: for Zope's user only (var/ itself stays open, as
    # a front-end reads the default tile root under it)
    os.chmod(os.path.join(var, "blobs"), 0o700)
    conf = os.path.join(etc, "zope.conf")
    new = not os.path.exists(conf)
    if new:
        with open(conf, "w") as f:
            database = FILESTORAGE
            if zeo:
                database = ZEOCLIENT % {
                    "zeo": zeo,
                    "blob_cache_size": parse_size(blob_cache_size)}
            elif relstorage:
                database = RELSTORAGE % {
                    "dsn": _dsn(relstorage),
                    "blob_cache_size": parse_size(blob_cache_size)}
            f.write(ZOPE_CONF % {"home": home, "database": database} +
                    extra_conf)
    with open(os.path.join(etc, "site.zcml"), "w") as f:
        f.write(SITE_ZCML)
    ini = os.path.join(etc, "zope.ini")
    with open(ini, "w") as f:  # host and port may change at every start
        f.write(ZOPE_INI % {"home": home, "host": host, "port": port,
                            "max_body": parse_size(max_body)})
    name, password = admin or admin_from_env()
    data_fs = os.path.join(var, "Data.fs")
    with open(conf) as f:
        text = f.read()  # <zeoclient>: an instance of older releases
        on_zeo = any(section in text for section in (
            "<clientstorage>", "<zeoclient>", "<relstorage>"))
    started = os.path.exists(data_fs) and os.path.getsize(data_fs) > 0
    if not on_zeo:
        _private_files(data_fs)
    # once: at every start Zope would reset a lone user's password from
    # it, and a ZEO instance has no Data.fs that tells it has started
    if new or not (on_zeo or started):
        # Zope adds this user to the root acl_users at the first start
        from AuthEncoding.AuthEncoding import pw_encrypt
        with open(os.path.join(home, "inituser"), "wb") as f:
            f.write(name.encode("utf-8") + b":" +
                    pw_encrypt(password.encode("utf-8"), "SHA"))
    return conf, ini


def _dsn(text):
    """A libpq connection string as one line of zope.conf."""
    dsn = " ".join(str(text).split())
    if not dsn or "$" in dsn or "<" in dsn:
        raise ValueError("not a PostgreSQL connection string: %r (for "
                         "example host=db.example port=5432 dbname=zodb "
                         "user=zope)" % (text,))
    return dsn


def _private_files(data_fs):
    """Data.fs and its transaction file (.tmp, a commit's data) mode 0600:
    FileStorage keeps the mode of files that exist and would create them
    with the process's umask (0644), which the filesystem store's tiles
    must keep for a front-end. Made empty here before the first start
    (FileStorage writes its header into an empty file); an older
    instance's files are made private at its next start."""
    for path in (data_fs, data_fs + ".tmp", data_fs + ".old"):
        if path.endswith(".old") and not os.path.exists(path):
            continue  # made by a pack, with the database's mode
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            continue
        os.chmod(path, 0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", help="the instance directory")
    parser.add_argument("--host", default=os.environ.get("HOST",
                                                         "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--zeo", default=os.environ.get("ZEO"),
                        metavar="HOST:PORT", help="use the database of this "
                        "ZEO server (for a new instance)")
    parser.add_argument("--relstorage", default=os.environ.get(
        "RELSTORAGE"), metavar="DSN", help="use this PostgreSQL database "
        "through RelStorage (for a new instance), a libpq connection "
        "string like 'host=db port=5432 dbname=zodb user=zope "
        "password=...' (docs/cluster.txt)")
    parser.add_argument("--max-body", default=os.environ.get(
        "MAX_BODY", DEFAULT_MAX_BODY), metavar="SIZE", help="the biggest "
        "request body (upload) anyone may send, like 100MB or 2GB "
        "(default %s; MAX_BODY=... make start)" % DEFAULT_MAX_BODY)
    parser.add_argument("--blob-cache-size", default=os.environ.get(
        "BLOB_CACHE_SIZE", DEFAULT_BLOB_CACHE), metavar="SIZE",
        help="with --zeo or --relstorage: the most this client keeps "
        "of the database's blobs (originals) on its disc, like 20GB; "
        "at least the biggest original (default %s)" % DEFAULT_BLOB_CACHE)
    args = parser.parse_args(argv)
    for option, value in (("--max-body", args.max_body),
                          ("--blob-cache-size", args.blob_cache_size)):
        try:
            parse_size(value)
        except ValueError as e:
            parser.error("%s: %s" % (option, e))
    if args.zeo and args.relstorage:
        parser.error("--zeo and --relstorage: choose one database")
    if args.relstorage:
        try:
            _dsn(args.relstorage)
        except ValueError as e:
            parser.error("--relstorage: %s" % e)
    name, password = admin_from_env()
    conf, ini = write_instance(args.home, args.host, args.port,
                               (name, password), zeo=args.zeo,
                               max_body=args.max_body,
                               blob_cache_size=args.blob_cache_size,
                               relstorage=args.relstorage)
    print("Zope instance %s\n  config: %s\n  admin user: %s (password from "
          "ZOPE_ADMIN, default admin)\n  open http://%s:%d/manage"
          % (os.path.abspath(args.home), conf, name, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
