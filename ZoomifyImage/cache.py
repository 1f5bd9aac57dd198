"""A small in-memory cache for what never changes once made (the tiles of
a set, their decoded pixels): least recently used dropped first, bounded
by the sum of its values' costs, shared by Zope's threads."""

import collections
import threading


class BoundedCache:
    """Values by key, up to ``limit`` in total ``cost(value)``; a value
    costing more than ``largest`` (default: the limit) is not kept."""

    def __init__(self, limit, cost=len, largest=None):
        self.limit = limit
        self.cost = cost
        self.largest = limit if largest is None else largest
        self.items = collections.OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value):
        cost = self.cost(value)
        if cost > self.largest:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += cost
            while self.size > self.limit:
                _, old = self.items.popitem(last=False)
                self.size -= self.cost(old)

    def clear(self):
        with self.lock:
            self.items.clear()
            self.size = 0
