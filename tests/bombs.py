"""Decompression bombs for tests: files of a few hundred bytes whose headers declare a huge image.

Each has a valid header and the start of its image data, cut short: whoever reads the
declared size must refuse it before a decoder allocates the image.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

SIDE = 20_000


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A grayscale PNG declaring ``width`` x ``height``, with the first rows of its data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows, each a filter byte and zeros
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)


def jpeg_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A real 8x8 grayscale JPEG whose frame header is rewritten to ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")  # baseline start of frame: length, precision, height, width
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_file(width: int, height: int) -> bytes:
    """A real, complete grayscale PNG of ``width`` x ``height`` zeros (compresses to little)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 0).save(buffer, format="PNG")
    return buffer.getvalue()
