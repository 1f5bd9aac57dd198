"""Run by tests/test_faults.py as a process of its own: give an image of
a Zope instance a new file, and die by SIGKILL at a chosen point of the
commit (kill -9 from within, at an exact moment):

    python tests/crash_retile.py ZOPE_CONF IMAGE_ID NEW_FILE vote|finish

vote: after the new set is in its place, before the database commits;
finish: right after the database has committed.
"""

import os
import signal
import sys

import transaction
from transaction.interfaces import IDataManager
from zope.interface import implementer


@implementer(IDataManager)
class Die:
    """The last data manager of the transaction: kills the process."""

    def __init__(self, when):
        self.when = when
        self.transaction_manager = transaction.manager

    def sortKey(self):
        return "~~~ after everything"

    def _maybe_die(self, phase):
        if phase == self.when:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def tpc_vote(self, txn):
        self._maybe_die("vote")

    def tpc_finish(self, txn):
        self._maybe_die("finish")

    def abort(self, txn):
        pass

    tpc_begin = commit = tpc_abort = abort


def main(zope_conf, image_id, new_file, when):
    from ZoomifyImage.importer import open_zope
    app = open_zope(zope_conf)
    with open(new_file, "rb") as f:
        app[image_id].manage_upload(file=f)
    transaction.get().join(Die(when))
    transaction.commit()
    print("survived")  # never: the process is gone


if __name__ == "__main__":
    main(*sys.argv[1:])
