"""Conflict resolution of a persistent object's state, attribute by
attribute: two transactions that changed different attributes both win
(a manager edits the title while a background job stores its results).
content.py's _p_resolveConflict uses it."""

from ZODB.ConflictResolution import PersistentReference
from ZODB.POSException import ConflictError

_MISSING = object()

# the image's attributes that begin a new life (content.py): a new job, a
# new original or a deletion merges with nothing, so that a stale job's
# result never lands beside them
NEW_LIFE = frozenset({"_job", "original_id", "_original", "_job_deleted"})


def _same(a, b):
    # persistent references are compared by oid (== raises on them)
    if isinstance(a, PersistentReference) or \
            isinstance(b, PersistentReference):
        return (isinstance(a, PersistentReference)
                and isinstance(b, PersistentReference)
                and (a.oid, a.database_name) == (b.oid, b.database_name))
    try:
        return a == b
    except ValueError:  # references inside a container
        return False


def merge_states(old, committed, new, generation=()):
    """The state with both sides' changes (old -> committed, old -> new),
    or ConflictError when both changed one attribute differently, or when
    either changed one of ``generation`` (the attributes that begin a new
    life of the object, which merges with nothing) while the other
    changed anything."""
    keys = set(old) | set(committed) | set(new)
    ours = {k for k in keys if not _same(new.get(k, _MISSING),
                                         old.get(k, _MISSING))}
    theirs = {k for k in keys if not _same(committed.get(k, _MISSING),
                                           old.get(k, _MISSING))}
    for key in ours & theirs:
        if not _same(new.get(key, _MISSING), committed.get(key, _MISSING)):
            raise ConflictError("both changed %s" % key)
    if ours and theirs and (ours | theirs) & set(generation):
        raise ConflictError("the image's job or original changed")
    merged = dict(committed)
    for key in ours:
        if new.get(key, _MISSING) is _MISSING:
            merged.pop(key, None)
        else:
            merged[key] = new[key]
    return merged
