"""Tiny test images, made at test time."""

import io

from PIL import Image


def jpeg(width=600, height=400):
    image = Image.new("RGB", (width, height))
    for x in range(0, width, 50):
        for y in range(0, height, 50):
            image.paste(((x * 255) // width, (y * 255) // height, 128),
                        (x, y, x + 50, y + 50))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
