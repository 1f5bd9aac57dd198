"""What a file is, from its first bytes: the kinds of file whose refusal
must name the format or the codec (an engine's own message would call the
file damaged, or not an image), read from their documented headers.

- HEIF and AVIF (ISO/IEC 23008-12, the files phones shoot): the brands of
  the leading ``ftyp`` box.
- TIFF: the Compression tag (259) of the first image directory, classic
  TIFF or BigTIFF.
- JPEG: the sample precision of its frame header (SOFn, ITU T.81 B.2.2).
"""

import struct

# ftyp brands of HEIF images and image sequences (and of AVIF, HEIF with
# AV1): ISO/IEC 23008-12 and the AV1 Image File Format
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx",
               b"hevm", b"hevs", b"mif1", b"mif2", b"msf1", b"miaf",
               b"avif", b"avis", b"avio", b"MA1B", b"MA1A"}
AVIF_BRANDS = {b"avif", b"avis"}

# TIFF Compression values (TIFF 6.0, the TIFF tag registry, libtiff's
# tiff.h): how a refusal names them
TIFF_COMPRESSIONS = {
    1: "none", 2: "CCITT modified Huffman", 3: "CCITT Group 3 fax",
    4: "CCITT Group 4 fax", 5: "LZW", 6: "old-style JPEG", 7: "JPEG",
    8: "Deflate", 9: "JBIG (T.85)", 10: "JBIG (T.43)", 32766: "NeXT",
    32771: "CCITT RLE with word alignment", 32773: "PackBits",
    32809: "ThunderScan", 32895: "IT8 CT padding", 32896: "IT8 LW",
    32897: "IT8 MP", 32898: "IT8 BL", 32908: "Pixar film",
    32909: "Pixar log", 32946: "Deflate", 32947: "Kodak DCS",
    33003: "Aperio JPEG 2000 (YCbCr)", 33005: "Aperio JPEG 2000 (RGB)",
    34661: "JBIG", 34676: "SGI LogLuv", 34677: "SGI LogLuv (24-bit)",
    34692: "LuraDocument", 34712: "JPEG 2000", 34713: "Nikon NEF",
    34887: "LERC", 34892: "lossy JPEG (DNG)", 34925: "LZMA",
    34926: "Zstandard", 34927: "WebP", 34933: "PNG", 34934: "JPEG XR",
    50000: "Zstandard", 50001: "WebP", 50002: "JPEG XL",
    52546: "JPEG XL (DNG)",
}


def heif_kind(path):
    """"AVIF", "HEIF" or None, from the file's leading ftyp box."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", head[:4])[0]
    if size < 16:
        return None
    major = head[8:12]
    brands = {major} | {head[i:i + 4]
                        for i in range(16, min(size, len(head)) - 3, 4)}
    if not brands & HEIF_BRANDS:
        return None
    return "AVIF" if major in AVIF_BRANDS else "HEIF"


def tiff_fields(path):
    """{tag: value} of the one-value SHORT and LONG entries of a TIFF's
    first image directory (classic TIFF or BigTIFF), or None when the
    file is not a TIFF."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            order = {b"II": "<", b"MM": ">"}.get(head[:2])
            if order is None or len(head) < 16:
                return None
            version = struct.unpack(order + "H", head[2:4])[0]
            if version == 42:       # classic: 2-byte counts, 12-byte entries
                first = struct.unpack(order + "I", head[4:8])[0]
                count_format, entry_size, head_size = "H", 12, 2
            elif version == 43:     # BigTIFF: 8-byte counts, 20-byte entries
                first = struct.unpack(order + "Q", head[8:16])[0]
                count_format, entry_size, head_size = "Q", 20, 8
            else:
                return None
            f.seek(first)
            raw = f.read(head_size)
            if len(raw) < head_size:
                return {}
            count = struct.unpack(order + count_format, raw)[0]
            entries = f.read(min(count, 4096) * entry_size)
    except OSError:
        return None
    fields = {}
    # the value sits in the entry itself, after its count
    value_at = 8 if version == 42 else 12
    for at in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind = struct.unpack(order + "HH", entries[at:at + 4])
        value = entries[at + value_at:at + value_at + 4]
        if kind == 3:
            fields[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:
            fields[tag] = struct.unpack(order + "I", value)[0]
    return fields


def tiff_compression(path):
    """The Compression value of a TIFF's first image, or None (not a
    TIFF)."""
    fields = tiff_fields(path)
    if fields is None:
        return None
    return fields.get(259, 1)   # no Compression tag: uncompressed


def tiff_first_segment_bytes(path):
    """Bytes of the first strip or tile of a TIFF decoded (at most 16
    bits a sample), or None where the header does not say."""
    fields = tiff_fields(path) or {}
    samples = fields.get(277, 1)
    if 322 in fields and 323 in fields:
        return fields[322] * fields[323] * samples * 2
    if 256 in fields and 257 in fields:
        rows = min(fields.get(278, fields[257]), fields[257])
        return fields[256] * rows * samples * 2
    return None


def tiff_compression_name(number):
    """"old-style JPEG, 6": how a message names a TIFF compression."""
    return "%s, %d" % (TIFF_COMPRESSIONS.get(number, "unknown"), number)


# start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (not DHT, JPG, DAC)
SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_precision(path):
    """The bits a sample of a JPEG's frame (8, 12, 16), or None (not a
    JPEG, or no frame header in its first 64 KB of segments)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
    except OSError:
        return None
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:          # fill byte
            at += 1
            continue
        if marker in SOF_MARKERS:
            return data[at + 4] if at + 4 < len(data) else None
        if marker == 0xDA:          # the scan starts: no frame before it
            return None
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return None



# item types of HEIF image items (ISO/IEC 23008-12, the AV1 Image File
# Format, ISO/IEC 23001-17): how a refusal names the codec
HEIF_CODECS = {b"hvc1": "HEVC", b"hev1": "HEVC", b"av01": "AV1",
               b"jpeg": "JPEG", b"j2k1": "JPEG 2000", b"vvc1": "VVC",
               b"avc1": "AVC", b"unci": "uncompressed"}
# items made of other items (a grid of tiles, an overlay, a transform)
HEIF_DERIVED = {b"grid", b"iovl", b"iden"}
META_LIMIT = 1 << 22   # bytes of a meta box read (a phone's: a few KB)


def _boxes(data, at, end):
    """(type, payload start, payload end) of the boxes in data[at:end]."""
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        start = at + 8
        if size == 1 and at + 16 <= end:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
            start = at + 16
        elif size == 0:
            size = end - at
        if size < start - at:
            return
        yield kind, start, min(at + size, end)
        at += size


def _meta(path):
    """The payload of a HEIF's top-level meta box, or None."""
    try:
        with open(path, "rb") as f:
            while True:
                head = f.read(16)
                if len(head) < 8:
                    return None
                size, kind = struct.unpack(">I4s", head[:8])
                skip = 8
                if size == 1 and len(head) == 16:
                    size, skip = struct.unpack(">Q", head[8:])[0], 16
                if kind == b"meta":
                    if size == 0 or size > META_LIMIT:
                        size = META_LIMIT
                    f.seek(skip - len(head), 1)
                    return f.read(size - skip)
                if size < skip:
                    return None
                f.seek(size - len(head), 1)
    except OSError:
        return None


def heif_codec(path):
    """The codec of a HEIF's primary image ("HEVC", "AV1", "JPEG", ...,
    or its item type), from its meta box; None where the file does not
    say (not a HEIF, or cut before its items)."""
    meta = _meta(path)
    if meta is None or len(meta) < 4:
        return None
    primary, types, parts = None, {}, {}
    try:
        for kind, start, end in _boxes(meta, 4, len(meta)):  # a full box
            version = meta[start]
            if kind == b"pitm":
                primary = struct.unpack(">I" if version else ">H", meta[
                    start + 4:start + (8 if version else 6)])[0]
            elif kind == b"iinf":
                first = start + (8 if version else 6)
                for sub, s, e in _boxes(meta, first, end):
                    if sub != b"infe" or meta[s] < 2:
                        continue
                    wide = meta[s] >= 3   # version 3: 32-bit item ids
                    item = struct.unpack(">I" if wide else ">H", meta[
                        s + 4:s + (8 if wide else 6)])[0]
                    at = s + (10 if wide else 8)
                    types[item] = meta[at:at + 4]
            elif kind == b"iref":
                wide = version != 0
                for sub, s, e in _boxes(meta, start + 4, end):
                    if sub != b"dimg":
                        continue
                    item = struct.unpack(">I" if wide else ">H", meta[
                        s:s + (4 if wide else 2)])[0]
                    at = s + (6 if wide else 4)   # after the count
                    parts[item] = struct.unpack(
                        ">I" if wide else ">H",
                        meta[at:at + (4 if wide else 2)])[0]
    except (struct.error, IndexError):
        return None
    item = primary
    for _ in range(8):   # a grid's first tile (a transform of a grid...)
        kind = types.get(item)
        if kind not in HEIF_DERIVED:
            break
        item = parts.get(item)
    kind = types.get(item)
    if kind is None or kind in HEIF_DERIVED:
        return None
    return HEIF_CODECS.get(kind, kind.decode("latin-1").strip())
