"""IIIF Change Discovery: what a feed page costs as the log grows.

A FileStorage in a temporary directory holds an ActivityLog of N events
(a tenth of them below the folder asked); each row is the time to build
the site's last page and a folder's collection and last page from a
freshly opened connection (cold: buckets loaded from the file), as
activity_feed.py does. Prints a table.

    .venv/bin/python benchmarks/bench_activity.py [--sizes 1000,10000,100000]
"""

import argparse
import os
import tempfile
import time

import transaction
import ZODB
from ZODB.FileStorage import FileStorage

from ZoomifyImage.activity import log_of
from ZoomifyImage.activity_feed import PAGE_SIZE
from ZoomifyImage.activity_feed import Events


def build(path, size):
    db = ZODB.DB(FileStorage(path))
    connection = db.open()
    log = log_of(connection)
    for i in range(size):
        where = "/folder" if i % 10 == 0 else "/other"
        log.add("Update", "%s/img%d" % (where, i % 500), 1.7e9 + i)
        if i % 10000 == 9999:
            transaction.commit()
    transaction.commit()
    connection.close()
    return db


def timed(db, path):
    connection = db.open()
    connection.cacheMinimize()
    started = time.perf_counter()
    events = Events(log_of(connection, create=False), path)
    count = len(events)
    page = events.page(events.pages() - 1)
    took = time.perf_counter() - started
    connection.close()
    return took, count, len(page)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    print("%10s  %14s  %16s  %s" % ("events", "site last page",
                                    "folder last page", "folder events"))
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            db = build(os.path.join(tmp, "Data.fs"), size)
            db.cacheMinimize()
            site, _, _ = timed(db, "")
            folder, count, _ = timed(db, "/folder")
            db.close()
        print("%10d  %11.1f ms  %13.1f ms  %d (pages of %d)"
              % (size, site * 1000, folder * 1000, count, PAGE_SIZE))


if __name__ == "__main__":
    main()
