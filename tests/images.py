"""Real image files for the upload tests, made with Pillow (and by hand where Pillow would
refuse: a decompression bomb's header)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

# EXIF tags: Make, the GPS IFD pointer; GPS: latitude ref and latitude.
MAKE = 0x010F
GPS_IFD = 0x8825
GPS_LATITUDE_REF = 1
GPS_LATITUDE = 2


def _picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (width, height))
    # Some structure, so encoders have something to encode.
    for x in range(0, width, max(1, width // 16)):
        for y in range(0, height, max(1, height // 16)):
            image.putpixel((x, y), (x % 256, y % 256, 128) if mode == "RGB" else 200)
    return image


def jpeg_with_gps(width: int = 640, height: int = 480) -> bytes:
    """A JPEG whose EXIF names the camera and where it was taken."""
    image = _picture(width, height)
    exif = Image.Exif()
    exif[MAKE] = "SpyCam"
    gps = exif.get_ifd(GPS_IFD)
    gps[GPS_LATITUDE_REF] = "N"
    gps[GPS_LATITUDE] = (48.0, 51.0, 30.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    data = out.getvalue()
    assert b"SpyCam" in data
    return data


def encoded(image_format: str, width: int = 300, height: int = 200) -> bytes:
    mode = "P" if image_format == "GIF" else "RGB"
    image = _picture(width, height, "RGB").convert(mode) if mode == "P" else _picture(width, height)
    out = io.BytesIO()
    image.save(out, image_format)
    return out.getvalue()


def png(width: int = 300, height: int = 200) -> bytes:
    return encoded("PNG", width, height)


def png_with_text() -> bytes:
    """A PNG carrying a text chunk (metadata the upload must drop)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "SecretAuthor")
    out = io.BytesIO()
    _picture(120, 80).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp(width: int = 300, height: int = 200) -> bytes:
    return encoded("WEBP", width, height)


def gif(width: int = 300, height: int = 200) -> bytes:
    return encoded("GIF", width, height)


def bmp() -> bytes:
    return encoded("BMP", 50, 50)


def tiff() -> bytes:
    return encoded("TIFF", 50, 50)


def svg() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script></svg>"
    )


def truncated_jpeg() -> bytes:
    data = jpeg_with_gps(400, 300)
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A small PNG declaring width x height pixels (100 megapixels by default): a few KB of
    zeros that would inflate to hundreds of megabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" * (width + 1)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def large_jpeg(megabytes: float) -> bytes:
    """A valid JPEG of at least ``megabytes`` MiB (random pixels compress badly)."""
    import os

    side = 1500
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        if out.tell() >= megabytes * 1024 * 1024:
            return out.getvalue()
        side += 500
