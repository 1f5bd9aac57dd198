"""The descriptive metadata of an image (what a catalogue record says of
it): checked from what a form, a CSV row or a JSON file gives, held as
a frozen Description, and written out as IIIF Presentation 3
properties (the manifest) and as schema.org JSON-LD (the viewer page).
Nothing of Zope here: the image stores the checked values as plain
attributes (content.py, interfaces.IDescriptiveMetadata).

Markup is refused in every text, as in titles (content.check_title):
IIIF viewers show the manifest's values as HTML (Mirador does for
metadata values), and the Edit tab, the viewer page and the ZMI show
them again."""

import dataclasses
import datetime
import re

from .rights import check_rights
from .rights import name_of

# the texts of a description and their names on pages, forms and in CSV
# columns (the title is the image's own attribute, checked there)
TEXTS = (
    ("summary", "Summary"),
    ("creator", "Creator"),
    ("date", "Date"),
    ("source", "Source"),
    ("identifier", "Identifier"),
    ("attribution_label", "Attribution label"),
    ("attribution", "Attribution"),
    ("rights", "Rights"),
    ("language", "Language"),
)
FIELDS = tuple(name for name, _ in TEXTS) + ("metadata",)
# the fields of a description that the manifest's `metadata` lists
LISTED = (("creator", "Creator"), ("date", "Date"), ("source", "Source"),
          ("identifier", "Identifier"))
DEFAULT_ATTRIBUTION_LABEL = "Attribution"

MAX_TEXT = 4000          # characters of one text (a summary is the longest)
MAX_PAIRS = 100          # labelled pairs of one image

# BCP 47 as IIIF's language maps take it: a primary tag and subtags
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
# ISO 8601 as the Edit tab takes it: a year, a month, a day, or a day and
# a time with its zone
_DATE = re.compile(
    r"(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<time>\d{2}:\d{2}(:\d{2})?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One labelled metadata pair; language '' is the description's."""

    label: str
    value: str
    language: str = ""


@dataclasses.dataclass(frozen=True)
class Description:
    """An image's descriptive metadata, checked ('' where not given)."""

    title: str = ""
    summary: str = ""
    creator: str = ""
    date: str = ""
    source: str = ""
    identifier: str = ""
    attribution_label: str = ""
    attribution: str = ""
    rights: str = ""
    language: str = ""
    metadata: tuple = ()

    @property
    def rights_name(self):
        return (name_of(self.rights) or "") if self.rights else ""

    def listed(self):
        """The labelled pairs a page shows and the manifest lists: the
        creator, date, source and identifier, then the image's own."""
        pairs = [Pair(label, getattr(self, name))
                 for name, label in LISTED if getattr(self, name)]
        return pairs + list(self.metadata)


# ----------------------------------------------------------------- checks

def check_text(name, value):
    """One text of a description: plain, without markup, bounded."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("%s must be text, not %s"
                         % (_label(name), type(value).__name__))
    text = value.strip()
    if "<" in text or ">" in text:
        raise ValueError("%s cannot contain < or >." % _label(name))
    if len(text) > MAX_TEXT:
        raise ValueError("%s is longer than %d characters."
                         % (_label(name), MAX_TEXT))
    return text


def check_language(value, name="language"):
    """A BCP 47 language tag ('en', 'de-CH'), or '' for none."""
    text = check_text(name, value)
    if text and (text == "none" or not _LANGUAGE.fullmatch(text)):
        raise ValueError("%s must be a language tag like en or de-CH, not %r"
                         % (_label(name), text))
    return text


def check_date(value):
    """The date as given, if it is an ISO 8601 year (1889), month
    (1889-06), day (1889-06-15) or day and time with a zone
    (1889-06-15T10:30:00Z, ...+01:00); else ValueError."""
    text = check_text("date", value)
    if not text:
        return ""
    match = _DATE.fullmatch(text)
    if not match or (match.group("time") and not match.group("zone")):
        raise ValueError(
            "Date must be an ISO 8601 date: a year (1889), a month "
            "(1889-06), a day (1889-06-15) or a day and a time with its "
            "zone (1889-06-15T10:30:00Z), not %r" % text)
    try:
        _start(text)
    except (ValueError, OverflowError):  # before the year 1 in UTC too
        raise ValueError("Date %r is not a day of the calendar." % text) \
            from None
    return text


def _start(text):
    """The first moment of the date, an aware datetime in UTC."""
    match = _DATE.fullmatch(text)
    if match.group("time"):
        return datetime.datetime.fromisoformat(text).astimezone(
            datetime.timezone.utc)
    return datetime.datetime(int(match.group("year")),
                             int(match.group("month") or 1),
                             int(match.group("day") or 1),
                             tzinfo=datetime.timezone.utc)


def nav_date(text):
    """IIIF's navDate for a checked date: an xsd:dateTime in UTC (by
    hand: strftime writes the year 800 as '800', not xsd's '0800')."""
    t = _start(text)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
        t.year, t.month, t.day, t.hour, t.minute, t.second)


def check_pairs(pairs):
    """Labelled pairs from (label, value[, language]) sequences or dicts
    with those keys; a pair with neither label nor value is dropped, one
    with only one of them is refused."""
    checked = []
    for n, pair in enumerate(pairs or (), 1):
        if isinstance(pair, Pair):
            pair = (pair.label, pair.value, pair.language)
        elif isinstance(pair, dict):
            unknown = set(pair) - {"label", "value", "language"}
            if unknown:
                raise ValueError("metadata pair %d: unknown key %s (label, "
                                 "value, language)" % (n, sorted(unknown)[0]))
            pair = (pair.get("label"), pair.get("value"),
                    pair.get("language"))
        elif isinstance(pair, str) or len(pair) not in (2, 3):
            raise ValueError("metadata pair %d must have a label and a value"
                             % n)
        label = check_text("metadata label", pair[0])
        value = check_text("metadata value", pair[1])
        language = check_language(pair[2] if len(pair) > 2 else "",
                                  "metadata language")
        if not label and not value:
            continue
        if not label or not value:
            raise ValueError("metadata pair %d needs both a label and a value"
                             " (%r)" % (n, label or value))
        checked.append(Pair(label, value, language))
    if len(checked) > MAX_PAIRS:
        raise ValueError("at most %d metadata pairs" % MAX_PAIRS)
    return tuple(checked)


def check(values):
    """The checked values of the fields ``values`` gives (a dict: the
    names of FIELDS; 'metadata' a list of pairs), or ValueError naming
    the first bad one. Unknown names are refused (a misspelt CSV
    column must not be lost silently)."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError("unknown metadata field %r (known: %s)"
                         % (sorted(unknown)[0], ", ".join(FIELDS)))
    checked = {}
    for name, value in values.items():
        if name == "metadata":
            checked[name] = check_pairs(value)
        elif name == "date":
            checked[name] = check_date(value)
        elif name == "language":
            checked[name] = check_language(value)
        elif name == "rights":
            checked[name] = check_rights(check_text(name, value))
        else:
            checked[name] = check_text(name, value)
    return checked


def _label(name):
    return dict(TEXTS).get(name, name[:1].upper() + name[1:].replace(
        "_", " "))


# ------------------------------------------------------------ IIIF

def _map(text, language):
    """A IIIF language map of one text."""
    return {language or "none": [text]}


def manifest_properties(description, homepage, provider=None):
    """The descriptive properties of a Presentation 3 manifest: label,
    summary, metadata, requiredStatement, rights, navDate, homepage (the
    viewer page's URL ``homepage``) and provider (``provider``: (URL,
    name) of the site's iiif-provider, or None)."""
    d = description
    language = d.language
    label = _map(d.title, language)
    props = {"label": label}
    if d.summary:
        props["summary"] = _map(d.summary, language)
    metadata = [{"label": {"en": [label]},
                 "value": _map(getattr(d, name), language)}
                for name, label in LISTED if getattr(d, name)]
    metadata += [{"label": _map(pair.label, pair.language or language),
                  "value": _map(pair.value, pair.language or language)}
                 for pair in d.metadata]
    if metadata:
        props["metadata"] = metadata
    if d.attribution:
        props["requiredStatement"] = {
            "label": _map(d.attribution_label, language)
            if d.attribution_label else
            {"en": [DEFAULT_ATTRIBUTION_LABEL]},
            "value": _map(d.attribution, language)}
    if d.rights:
        props["rights"] = d.rights
    if d.date:
        props["navDate"] = nav_date(d.date)
    page = {"id": homepage, "type": "Text", "label": label,
            "format": "text/html"}
    if language:
        page["language"] = [language]
    props["homepage"] = [page]
    if provider:
        url, name = provider
        props["provider"] = [{
            "id": url, "type": "Agent", "label": {"none": [name]},
            "homepage": [{"id": url, "type": "Text",
                          "label": {"none": [name]},
                          "format": "text/html"}]}]
    return props


# --------------------------------------------------------- schema.org

def json_ld(description, page, thumbnail, manifest, width, height):
    """schema.org JSON-LD of the image for its viewer page (a dict):
    an ImageObject that is a VisualArtwork, with the URLs given (site
    paths: the page is their base; thumbnail, manifest and size None
    while the image has no tiles)."""
    d = description
    doc = {
        "@context": "https://schema.org",
        "@type": ["ImageObject", "VisualArtwork"],
        "name": d.title,
        "url": page,
    }
    if thumbnail:
        doc["thumbnailUrl"] = thumbnail
    if width and height:
        doc["width"] = {"@type": "QuantitativeValue", "value": width,
                        "unitText": "px"}
        doc["height"] = {"@type": "QuantitativeValue", "value": height,
                         "unitText": "px"}
    if manifest:
        doc["subjectOf"] = {"@type": "CreativeWork", "url": manifest,
                            "encodingFormat": "application/ld+json",
                            "name": "IIIF manifest"}
    if d.summary:
        doc["description"] = d.summary
    if d.creator:
        doc["creator"] = {"@type": "Person", "name": d.creator}
    if d.date:
        doc["dateCreated"] = d.date
    if d.identifier:
        doc["identifier"] = d.identifier
    if d.rights:
        doc["license"] = d.rights
    if d.attribution:
        doc["creditText"] = d.attribution
    if d.language:
        doc["inLanguage"] = d.language
    extra = ([Pair("Source", d.source)] if d.source else []) + list(
        d.metadata)
    if extra:
        doc["additionalProperty"] = [
            {"@type": "PropertyValue", "name": pair.label,
             "value": pair.value} for pair in extra]
    return doc
