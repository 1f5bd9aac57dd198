"""HEIC files (HEIF whose image is HEVC-coded: what phones shoot) made by
pillow-heif's own encoder (x265, in its Linux wheels), and their pixels as
pillow-heif decodes them.

Where pillow_heif is hidden (PYTHONPATH=tests/without_pillow_heif, as
installed without the `heif` extra) the files are made by a Python of
their own that sees it: ``python -m tests.heic_files`` reads what to make
from stdin and writes the result to stdout, both pickled.
"""

import io
import os
import pickle
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def pillow_heif_here():
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def heic_and_expected(pixels, bits=8, grid=0, fast=False, **info):
    """(HEIC bytes of ``pixels``, their pixels as pillow-heif decodes
    them: turned as a viewer shows them, converted from the file's ICC
    profile to sRGB, flattened over white) for an RGB or RGBA uint8
    array. ``bits`` 10 codes the pixels in 10 bits; ``grid`` a tile size
    codes the image as a grid of tiles (as phones do); ``fast`` has x265
    encode at its fastest (big images); ``info`` the metadata to keep
    (exif, icc_profile)."""
    job = (np.ascontiguousarray(pixels), bits, grid, fast, info)
    if pillow_heif_here():
        return _make(*job)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and "without_" not in p)
    result = subprocess.run([sys.executable, "-m", "tests.heic_files"],
                            input=pickle.dumps(job), capture_output=True,
                            cwd=os.path.dirname(HERE), env=env, check=True)
    return pickle.loads(result.stdout)


def heic(pixels, **options):
    return heic_and_expected(pixels, **options)[0]


def _make(pixels, bits, grid, fast, info):
    import pillow_heif
    from PIL import Image
    from PIL import ImageCms
    from PIL import ImageOps
    # its opener is not registered here: Pillow in the tests' process
    # reads HEIF only where the product registers it
    assert pillow_heif.libheif_info()["HEIF"], "no HEVC encoder"
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    saved = pillow_heif.options.GRID_TILE_SIZE
    pillow_heif.options.GRID_TILE_SIZE = grid
    try:
        out = io.BytesIO()
        if bits == 8:
            heif = pillow_heif.from_pillow(Image.fromarray(pixels, mode))
        else:   # 16-bit samples, coded in 10 bits
            wide = pixels.astype(np.uint16) << 8 | pixels
            heif = pillow_heif.from_bytes(mode + ";16", pixels.shape[1::-1],
                                          wide.tobytes())
        heif.info.update(info)
        heif.save(out, quality=90, **(
            {"enc_params": {"preset": "ultrafast"}} if fast else {}))
    finally:
        pillow_heif.options.GRID_TILE_SIZE = saved
    data = out.getvalue()
    assert pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=(
        False)).info["bit_depth"] == bits
    im = pillow_heif.open_heif(io.BytesIO(data)).to_pillow()
    profile = im.info.get("icc_profile")
    decoded = ImageOps.exif_transpose(im).convert("RGBA")
    if profile:
        alpha = decoded.getchannel("A")
        decoded = ImageCms.profileToProfile(
            decoded.convert("RGB"), ImageCms.ImageCmsProfile(io.BytesIO(
                profile)), ImageCms.createProfile("sRGB"))
        decoded.putalpha(alpha)
    decoded = np.asarray(decoded, np.float64)
    alpha = decoded[..., 3:] / 255
    expected = decoded[..., :3] * alpha + 255 * (1 - alpha)
    return data, np.round(expected).astype(np.uint8)


if __name__ == "__main__":
    sys.stdout.buffer.write(pickle.dumps(_make(*pickle.load(
        sys.stdin.buffer))))


def linear_rgb_profile():
    """An ICC profile (version 2, matrix and curves) of sRGB's primaries
    with linear curves (gamma 1): a colour space unlike sRGB, so that a
    reader that ignores the profile shows other colours. Made by hand
    from the ICC specification: Pillow makes no RGB profile but sRGB."""
    import struct

    def s15(*values):
        return b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    def xyz(*values):
        return b"XYZ " + bytes(4) + s15(*values)

    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x100) + bytes(2)
    desc_text = b"linear sRGB primaries\0"
    desc = (b"desc" + bytes(4) + struct.pack(">I", len(desc_text))
            + desc_text + bytes(4 + 4 + 2 + 1 + 67))
    desc += bytes(-len(desc) % 4)
    # D50-adapted primaries of sRGB, and the D50 white
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
            (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    at = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", at + len(body), len(data))
        body += data
    size = at + len(body)
    header = (struct.pack(">I", size) + bytes(4) + b"\x02\x10\x00\x00"
              + b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(24)
              + bytes(4) + s15(0.9642, 1.0, 0.8249) + bytes(4 + 16 + 28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
