"""Descriptions for zoomify-import from files: a CSV of one row per image
file, or a sidecar JSON beside the image (photo.jpg.json or
photo.json). Both give the fields of description.FIELDS by name, and
the title; read here, checked by description.check and
content.check_title when the image is described.

CSV columns: file (the image file's name), title, summary, creator,
date, source, identifier, attribution_label, attribution, rights,
language, and one column per labelled pair: "metadata:Label" (a value in
the description's language) or "metadata:Label@de". A JSON file is an
object with the same names, its "metadata" a list of {"label", "value",
"language"}."""

import csv
import json
import os

from .description import FIELDS

NAMES = ("title",) + FIELDS
PAIR_COLUMN = "metadata:"


def read_csv(csv_path, filename):
    """The description of ``filename`` in the CSV at ``csv_path`` (the
    row whose file column names it, or its base name), or ValueError
    naming the file and the problem."""
    base = os.path.basename(filename)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            _check_columns(csv_path, columns)
            for row in reader:
                named = (row.get("file") or "").strip()
                if named in (filename, base) or (
                        named and os.path.basename(named) == base):
                    return _from_row(row)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError("%s: cannot read it as CSV (%s)" % (csv_path, e)) \
            from None
    raise ValueError("%s: no row for %s (its file column names the image "
                     "file)" % (csv_path, base))


def read_csv_rows(csv_path):
    """[(file, description)] of every row of the CSV at ``csv_path``, its
    file as the row names it (zoomify-import's list of files); ValueError
    naming the CSV and the problem."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            _check_columns(csv_path, reader.fieldnames or [])
            return [((row.get("file") or "").strip(), _from_row(row))
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError("%s: cannot read it as CSV (%s)" % (csv_path, e)) \
            from None


def _check_columns(csv_path, columns):
    if "file" not in columns:
        raise ValueError("%s: no 'file' column (the image file of each row)"
                         % csv_path)
    for column in columns:
        if column == "file" or (column in NAMES and column != "metadata"):
            continue
        label = column[len(PAIR_COLUMN):].partition("@")[0].strip()
        if not (column.startswith(PAIR_COLUMN) and label):
            raise ValueError(
                "%s: unknown column %r (known: file, %s, and metadata:LABEL"
                " or metadata:LABEL@LANGUAGE for labelled pairs)"
                % (csv_path, column, ", ".join(NAMES[:-1])))


def _from_row(row):
    values, pairs = {}, []
    for column, text in row.items():
        text = (text or "").strip()
        if column == "file" or column is None:
            continue
        if column.startswith(PAIR_COLUMN):
            label, _, language = column[len(PAIR_COLUMN):].partition("@")
            if text:
                pairs.append((label.strip(), text, language.strip()))
        elif text:
            values[column] = text
    if pairs:
        values["metadata"] = pairs
    return values


def sidecar_of(filename):
    """The sidecar JSON beside ``filename`` (photo.jpg.json, else
    photo.json), or None."""
    stem = os.path.splitext(filename)[0]
    for path in (filename + ".json", stem + ".json"):
        if path != filename and os.path.isfile(path):
            return path
    return None


def read_sidecar(path):
    """The description in a sidecar JSON file, or ValueError naming the
    file and the problem."""
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError("%s: cannot read it as JSON (%s)" % (path, e)) \
            from None
    if not isinstance(values, dict):
        raise ValueError("%s: a JSON object of fields is needed (%s)"
                         % (path, ", ".join(NAMES)))
    unknown = sorted(set(values) - set(NAMES))
    if unknown:
        raise ValueError("%s: unknown field %r (known: %s)"
                         % (path, unknown[0], ", ".join(NAMES)))
    if not isinstance(values.get("metadata", []), list):
        raise ValueError("%s: metadata must be a list of {label, value, "
                         "language}" % path)
    return values
