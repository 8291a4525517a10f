"""The width and height an encoded image declares in its header, read without decoding it.

A decoder allocates the whole image its header declares before it reads a pixel, so a
file of a few hundred bytes can declare 20000x20000 pixels and cost gigabytes to decode
(a decompression bomb). The model server and image-folder ingestion read the declared
size here, from PNG, JPEG, GIF, BMP and WebP headers, and refuse a file over their limit
before any decoder sees it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC
# share the range but are other segments.
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7, SOI.
JPEG_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
JPEG_SCAN_OR_END = frozenset({0xDA, 0xD9})


@dataclass(frozen=True)
class DeclaredSize:
    """The size an image file declares.

    Attributes:
        format: ``PNG``, ``JPEG``, ``GIF``, ``BMP`` or ``WebP``.
        width: Width in pixels (for a GIF, the canvas grown to fit its largest frame).
        height: Height in pixels.
        frames: Frames the file holds (GIF; 1 for the others). A GIF decoder reads
            every frame, even when only the first is kept.
    """

    format: str
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        """Pixels a decoder allocates for the file: width x height x frames."""
        return self.width * self.height * self.frames

    def describe(self) -> str:
        """The size in words, e.g. ``20000x20000`` or ``300 frames of 800x600``."""
        size = f"{self.width}x{self.height}"
        return size if self.frames == 1 else f"{self.frames} frames of {size}"


def describe_excess(size: DeclaredSize, limit: int) -> str:
    """Why ``size`` is refused, e.g. ``declares 20000x20000 pixels (400,000,000), over
    the limit of 1,048,576``."""
    return f"declares {size.describe()} pixels ({size.pixels:,}), over the limit of {limit:,}"


def declared_size(data: bytes) -> DeclaredSize | None:
    """The size an encoded image declares, read from its first bytes.

    Returns:
        The declared size, or None when ``data`` is no PNG, JPEG, GIF, BMP or WebP file
        or ends before its size (a decoder then fails on it without allocating).
    """
    if data[:8] == PNG_SIGNATURE:
        return _png(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return None


def _png(data: bytes) -> DeclaredSize | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return DeclaredSize("PNG", width, height)


def _jpeg(data: bytes) -> DeclaredSize | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            # Stray bytes between segments: decoders skip to the next marker, so do we.
            position = data.find(b"\xff", position)
            if position < 0:
                return None
            continue
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
        elif marker in JPEG_FRAME_MARKERS:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return DeclaredSize("JPEG", width, height)
        elif marker in JPEG_SCAN_OR_END:
            return None  # image data, or the end, before any frame header
        elif marker in JPEG_BARE_MARKERS:
            position += 2
        else:
            (length,) = struct.unpack(">H", data[position + 2 : position + 4])
            position += 2 + length
    return None


def _skip_sub_blocks(data: bytes, position: int) -> int:
    """The position after a GIF data block: sub-blocks of a length byte and that many
    bytes, ended by a zero length."""
    while position < len(data):
        length = data[position]
        position += 1 + length
        if length == 0:
            break
    return position


def _gif(data: bytes) -> DeclaredSize | None:
    if len(data) < 13:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while position < len(data):
        block = data[position]
        if block == 0x21:  # extension: label, then sub-blocks
            position = _skip_sub_blocks(data, position + 2)
        elif block == 0x2C and position + 10 <= len(data):  # image descriptor
            left, top, frame_width, frame_height = struct.unpack(
                "<HHHH", data[position + 1 : position + 9]
            )
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            frames += 1
            local_flags = data[position + 9]
            position += 10 + (3 << ((local_flags & 7) + 1) if local_flags & 0x80 else 0)
            position = _skip_sub_blocks(data, position + 1)  # after the LZW code size
        else:  # the trailer, or bytes no decoder reads on from
            break
    return DeclaredSize("GIF", width, height, max(frames, 1))


def _bmp(data: bytes) -> DeclaredSize | None:
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:  # height is negative for top-down rows
        width, height = struct.unpack("<ii", data[18:26])
    return DeclaredSize("BMP", abs(width), abs(height))


def _webp(data: bytes) -> DeclaredSize | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return DeclaredSize("WebP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return DeclaredSize("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return DeclaredSize("WebP", width, height)
    return None


# EXIF: the APP1 segment's signature, and the orientation tag of the first IFD.
_EXIF_SIGNATURE = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_SHORT = 3


def _exif_orientation(exif: bytes) -> int | None:
    """The orientation tag of an EXIF block (TIFF header and IFD0), 1 when it has none,
    None when the block is malformed or the tag is not one short."""
    order = {b"II": "<", b"MM": ">"}.get(exif[:2])
    if order is None or len(exif) < 8:
        return None
    (first,) = struct.unpack(order + "I", exif[4:8])
    if first + 2 > len(exif):
        return None
    (entries,) = struct.unpack(order + "H", exif[first : first + 2])
    for number in range(entries):
        start = first + 2 + 12 * number
        if start + 12 > len(exif):
            return None
        tag, kind, count = struct.unpack(order + "HHI", exif[start : start + 8])
        if tag == _ORIENTATION_TAG:
            if kind != _SHORT or count != 1:
                return None
            (value,) = struct.unpack(order + "H", exif[start + 8 : start + 10])
            return value
    return 1


_LENGTH = struct.Struct(">H")


def jpeg_orientation(data: bytes) -> int | None:  # noqa: PLR0911 (one return per case)
    """The EXIF orientation a JPEG declares (1, upright, when it has no EXIF), read from
    the segments before its image data.

    Returns None where a full decoder had better judge: the file is no plain JPEG (an
    MPO's extra frames, segments that run past the end, no image data), it holds more
    than one EXIF block, or the orientation is malformed.
    """
    if data[:2] != b"\xff\xd8":
        return None
    position, orientation = 2, 1
    found = False
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker in JPEG_SCAN_OR_END:
            return orientation if marker == 0xDA else None
        if marker in JPEG_BARE_MARKERS:
            position += 2
            continue
        (length,) = _LENGTH.unpack_from(data, position + 2)
        if length < 2 or position + 2 + length > len(data):
            return None
        if marker not in (0xE1, 0xE2):  # tables and the frame header: only skipped
            position += 2 + length
            continue
        body = data[position + 4 : position + 2 + length]
        if marker == 0xE1 and body.startswith(_EXIF_SIGNATURE):
            if found:
                return None
            found = True
            value = _exif_orientation(body[len(_EXIF_SIGNATURE) :])
            if value is None:
                return None
            orientation = value
        elif marker == 0xE2 and body.startswith(b"MPF\x00"):
            return None
        position += 2 + length
    return None
