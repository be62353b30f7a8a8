"""Checking and re-encoding images with Pillow (CPU-bound: call from a worker thread).

An image is what Pillow decodes as JPEG, PNG, WebP or GIF, whatever its name or declared
type. Re-encoding drops every metadata block (EXIF with GPS, XMP, text chunks, ICC
profiles); JPEG orientation is applied to the pixels first so the picture stays upright.
Animated GIF and WebP keep their first frame, as does a multi-picture JPEG (MPO).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from conduit.uploads.exceptions import InvalidImage, TooManyPixels

log = structlog.get_logger("conduit.uploads")

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
THUMBNAIL_SIDE = 256

# Pillow refuses (DecompressionBombError) an image of more than twice MAX_IMAGE_PIXELS from
# its header, before decoding: half of our limit makes it refuse exactly above 40 MP.
# Between the two it only warns; process() refuses those itself, so the warning is noise.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Pillow format -> (content type, file extension)
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}
_JPEG_QUALITY = 85
_WEBP_QUALITY = 85


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    data: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _pixels_for(image: Image.Image, image_format: str) -> Image.Image:
    """The pixels in a mode the format can save."""
    if image_format == "JPEG":
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image_format == "GIF":
        return image if image.mode in ("P", "L") else image.convert("P")
    if image_format == "WEBP":
        return image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
    if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        return image
    return image.convert("RGBA")


def _encode(image: Image.Image, image_format: str) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        image.save(out, "JPEG", quality=_JPEG_QUALITY)
    elif image_format == "WEBP":
        image.save(out, "WEBP", quality=_WEBP_QUALITY)
    else:
        image.save(out, image_format)
    return out.getvalue()


def process(data: bytes) -> ProcessedImage:
    """Check ``data`` is an image Conduit takes; re-encode it and make its thumbnail.

    Raises InvalidImage (not an image, truncated, another format) or TooManyPixels (its
    header declares more than MAX_PIXELS: checked before any pixel is decoded).
    """
    if not data:
        raise InvalidImage("is empty")
    if len(data) > MAX_BYTES:
        raise InvalidImage(f"is too large (at most {MAX_BYTES} bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as opened:
            # A phone's JPEG with a second picture (MPO: depth map, preview) is a JPEG; its
            # first picture is kept.
            image_format = "JPEG" if opened.format == "MPO" else (opened.format or "")
            if image_format not in FORMATS:
                raise InvalidImage()
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise TooManyPixels(MAX_PIXELS)
            opened.load()
            upright = ImageOps.exif_transpose(opened) if image_format == "JPEG" else opened
            pixels = _pixels_for(upright, image_format)
            encoded = _encode(pixels, image_format)
            thumbnail = pixels.copy()
            thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            encoded_thumbnail = _encode(thumbnail, image_format)
            final_width, final_height = pixels.size
    except InvalidImage:
        raise
    except Image.DecompressionBombError:
        raise TooManyPixels(MAX_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise InvalidImage() from None
    except Exception as exc:  # a decoder's surprise on hostile input: still the client's
        log.info("image_refused", error_type=type(exc).__name__, error=str(exc)[:200])
        raise InvalidImage() from None
    content_type, extension = FORMATS[image_format]
    return ProcessedImage(
        data=encoded,
        thumbnail=encoded_thumbnail,
        content_type=content_type,
        extension=extension,
        width=final_width,
        height=final_height,
    )
