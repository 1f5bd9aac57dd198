"""The rights of an image: the URIs IIIF Presentation 3 takes as `rights`
(a Creative Commons licence or public-domain tool, or a
RightsStatements.org statement, each by the URI its own body defines),
checked, and their names for pages. Nothing of Zope here: config.py
checks the site's setting with it too.

IIIF's extension mechanism for other vocabularies is not offered: text
that is not one of these goes into the required statement."""

import re

# Creative Commons: licenses/CODE/VERSION/ (with a jurisdiction port
# before 4.0), publicdomain/zero/1.0/ and publicdomain/mark/1.0/
_CC_CODES = ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
_CC_VERSIONS = ("1.0", "2.0", "2.5", "3.0", "4.0")
_CC = re.compile(
    r"http://creativecommons\.org/licenses/(?P<code>[a-z-]+)/"
    r"(?P<version>\d\.\d)/(?:(?P<port>[a-z]{2}(?:-[a-z]{2})?)/)?")
_CC_TOOLS = {
    "http://creativecommons.org/publicdomain/zero/1.0/": "CC0 1.0",
    "http://creativecommons.org/publicdomain/mark/1.0/":
        "Public Domain Mark 1.0",
}

# RightsStatements.org's twelve statements, version 1.0
STATEMENTS = {
    "InC": "In Copyright",
    "InC-OW-EU": "In Copyright - EU Orphan Work",
    "InC-EDU": "In Copyright - Educational Use Permitted",
    "InC-NC": "In Copyright - Non-Commercial Use Permitted",
    "InC-RUU": "In Copyright - Rights-holder(s) Unlocatable or "
               "Unidentifiable",
    "NoC-CR": "No Copyright - Contractual Restrictions",
    "NoC-NC": "No Copyright - Non-Commercial Use Only",
    "NoC-OKLR": "No Copyright - Other Known Legal Restrictions",
    "NoC-US": "No Copyright - United States",
    "CNE": "Copyright Not Evaluated",
    "UND": "Copyright Undetermined",
    "NKC": "No Known Copyright",
}
_RS = re.compile(r"http://rightsstatements\.org/vocab/(?P<id>[A-Za-z-]+)/"
                 r"1\.0/")

HELP = ("rights must be a Creative Commons URI (like http://"
        "creativecommons.org/licenses/by/4.0/ or http://creativecommons.org"
        "/publicdomain/zero/1.0/) or a RightsStatements.org URI (like "
        "http://rightsstatements.org/vocab/InC/1.0/); other text goes in "
        "the required statement (attribution)")


def check_rights(text):
    """The IIIF `rights` URI for ``text`` ('' for none), or ValueError
    naming what is wrong. Both bodies define http URIs: an https one (as
    their pages show) is taken as the same URI; anything else, a
    missing last slash too, is refused."""
    value = str(text or "").strip()
    if not value:
        return ""
    uri = value
    if uri.startswith("https://"):
        uri = "http://" + uri[len("https://"):]
    if name_of(uri) is None:
        raise ValueError("%s, not %r" % (HELP, value))
    return uri


def name_of(uri):
    """The name of a rights URI for a page ('CC BY-NC 4.0', 'In
    Copyright'), or None if IIIF does not take the URI."""
    if uri in _CC_TOOLS:
        return _CC_TOOLS[uri]
    match = _CC.fullmatch(uri)
    if match:
        code, version, port = match.group("code", "version", "port")
        if code not in _CC_CODES or version not in _CC_VERSIONS or (
                port and version == "4.0"):
            return None
        return "CC %s %s%s" % (code.upper(), version,
                               " (%s)" % port if port else "")
    match = _RS.fullmatch(uri)
    if match and match.group("id") in STATEMENTS:
        return STATEMENTS[match.group("id")]
    return None


def choices():
    """The URIs the Edit tab offers, with their names: the Creative
    Commons 4.0 licences and tools and every RightsStatements.org
    statement (any other valid URI is kept when it is the current one)."""
    uris = ["http://creativecommons.org/licenses/%s/4.0/" % code
            for code in _CC_CODES]
    uris += list(_CC_TOOLS)
    uris += ["http://rightsstatements.org/vocab/%s/1.0/" % id
             for id in STATEMENTS]
    return [(uri, name_of(uri)) for uri in uris]
