"""The build and lint files agree with each other: `make lint` and the
pre-commit hooks run the same ruff, and setup.py, tox.ini, ruff.toml and
pyupgrade name the same Pythons (what check-python-versions checks in
`tox -e release-check`, here without the package index)."""

import configparser
import importlib.metadata
import os
import re
import tomllib

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def test_make_lint_and_pre_commit_run_the_same_ruff():
    pinned = re.search(r'"ruff == ([\d.]+)"', read("setup.py")).group(1)
    hook = re.search(r'"ruff == ([\d.]+)"',
                     read(".pre-commit-config.yaml")).group(1)
    assert hook == pinned == importlib.metadata.version("ruff")


def test_every_file_names_the_same_pythons():
    setup = read("setup.py")
    classifiers = re.findall(r"Python :: 3\.(\d+)\"", setup)
    floor = re.search(r'python_requires=">=3\.(\d+)"', setup).group(1)
    tox = configparser.ConfigParser()
    tox.read_string(read("tox.ini"))
    envs = re.findall(r"^py3(\d+)$", tox["tox"]["envlist"], re.M)
    target = tomllib.loads(read("ruff.toml"))["target-version"]
    upgrade = re.search(r"pyupgrade --py3(\d+)-plus",
                        read(".pre-commit-config.yaml")).group(1)
    assert classifiers == envs
    assert classifiers[0] == floor == upgrade
    assert target == "py3" + floor


def test_the_build_system_is_declared():
    build = tomllib.loads(read("pyproject.toml"))["build-system"]
    assert build["build-backend"] == "setuptools.build_meta"
    assert any(r.startswith("setuptools") for r in build["requires"])
