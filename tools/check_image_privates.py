"""`make lint`: no module of the product reaches into the image's private
names (issue 24). Other modules know the image by its declared face
(ZoomifyImage/interfaces.py: IDeepZoomImage, IZoomifyImage); only its own
module, content.py, may use what is behind it.

Refused: ``image._x``, ``ZoomifyImage._x``, ``self.context._x`` and
``self._image()._x`` (the published tile objects' way to their image).
Allowed: dunders, and ``_p_`` names (the persistence API every persistent
object declares: IPersistent).

    python tools/check_image_privates.py ZoomifyImage [more files or dirs]
"""

import ast
import pathlib
import sys

OWN_MODULE = "content.py"


def _is_image(node):
    """True if ``node`` is an expression that names the image."""
    if isinstance(node, ast.Name):
        return node.id in ("image", "ZoomifyImage")
    if isinstance(node, ast.Attribute):  # self.context
        return node.attr == "context" and isinstance(node.value, ast.Name) \
            and node.value.id == "self"
    if isinstance(node, ast.Call):  # self._image()
        func = node.func
        return isinstance(func, ast.Attribute) and func.attr == "_image"
    return False


def _private(name):
    return name.startswith("_") and not name.startswith("_p_") and not (
        name.startswith("__") and name.endswith("__"))


def problems(path):
    tree = ast.parse(path.read_text(), str(path))
    found = [node for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and _private(node.attr)
             and _is_image(node.value)]
    for node in sorted(found, key=lambda node: node.lineno):
        yield "%s:%d: %s.%s: the image's private name (use its face, " \
            "interfaces.py)" % (path, node.lineno, ast.unparse(node.value),
                                node.attr)


def files(args):
    for arg in args:
        path = pathlib.Path(arg)
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for name in found:
            if name.name != OWN_MODULE:
                yield name


def main(args):
    found = [line for path in files(args) for line in problems(path)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["ZoomifyImage"]))
