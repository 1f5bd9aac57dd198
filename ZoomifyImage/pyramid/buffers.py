"""Row buffers of the pyramid: bytes a pixel, Pillow images over our own
memory, and packed RGB rows. The sources write into them and builder.py
cuts and shrinks them; neither needs the other."""

from PIL import Image

# bytes a pixel, by layout of rows: Pillow's "L" and "RGBX", packed "RGB"
PIXEL_BYTES = {"L": 1, "RGB": 3, "RGBX": 4}


def image_on(memory, mode, width, rows):
    """A Pillow image whose pixels are ``memory`` (a writable buffer of
    rows x width pixels in Pillow's own layout for ``mode``): writing into
    either shows in both, nothing is copied."""
    image = Image.frombuffer(mode, (width, rows), memory, "raw", mode, 0, 1)
    # Pillow marks mapped images read-only and would copy them on the
    # first paste; this memory is ours and writing into it is the point
    image.readonly = 0
    return image


class PackedRGB:
    """A buffer of 8-bit RGB rows, 3 bytes a pixel as libvips hands them
    out (a quarter smaller than Pillow's 4). Pillow cannot work on such
    memory in place, so crop unpacks the rows of a tile into a small
    image (the tiers are shrunk in place by _boxmean.c)."""

    def __init__(self, memory, width):
        self.memory = memory
        self.width = width
        self.line = 3 * width

    def crop(self, box):
        left, top, right, bottom = box
        start = top * self.line + 3 * left
        end = (bottom - 1) * self.line + 3 * right
        # Image.frombuffer would first fill the new image with zeros
        # (color=None leaves it as allocated): a third of the cost of
        # unpacking a strip of rows (benchmarks/README.txt, note
        # unfilled-image)
        image = Image.new("RGB", (right - left, bottom - top), None)
        image.frombytes(memoryview(self.memory)[start:end], "raw", "RGB",
                        self.line, 1)
        return image
