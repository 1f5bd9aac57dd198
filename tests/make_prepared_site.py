"""Fill the database of a Zope instance that is not running with a folder
of prepared images (tests/prepared_images.py), in a process of its own
(Zope is configured once a process): the gallery's server test and
benchmarks/bench_gallery.py.

    python -m tests.make_prepared_site ZOPE_CONF FOLDER COUNT [WIDTH HEIGHT]
"""

import sys


def main(argv):
    conf, folder, count = argv[0], argv[1], int(argv[2])
    width, height = (int(argv[3]), int(argv[4])) if len(argv) > 4 \
        else (1200, 800)
    import transaction
    from OFS.Folder import manage_addFolder

    from tests.prepared_images import add_prepared
    from tests.prepared_images import prepare
    from ZoomifyImage.importer import open_zope
    app = open_zope(conf)
    manage_addFolder(app, folder, "Gallery of %d" % count)
    here = app[folder]
    # a few different pictures, so that the thumbnails differ
    pictures = [prepare(width, height, seed=seed) for seed in range(3)]
    for n in range(1, count + 1):
        add_prepared(here, "img%04d" % n, pictures[n % 3], "Image %d" % n)
    transaction.commit()
    app._p_jar.db().close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
