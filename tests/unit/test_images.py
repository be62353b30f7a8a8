"""Checking and re-encoding images (Pillow), without HTTP."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conduit.uploads import images
from conduit.uploads.exceptions import InvalidImage, TooManyPixels
from tests import images as samples


def test_pillow_refuses_exactly_what_conduit_refuses() -> None:
    # Pillow raises DecompressionBombError above twice MAX_IMAGE_PIXELS.
    assert Image.MAX_IMAGE_PIXELS * 2 == images.MAX_PIXELS == 40_000_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(samples.png_bomb(7000, 6000)))


@pytest.mark.parametrize(("width", "height"), [(7000, 6000), (10_000, 10_000), (40_001, 1000)])
def test_over_forty_megapixels_is_refused_from_the_header(width: int, height: int) -> None:
    with pytest.raises(TooManyPixels):
        images.process(samples.png_bomb(width, height))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_under_the_limit_the_pixels_are_read() -> None:
    # 36 megapixels (of zeros) is within the limit: decoded, re-encoded, thumbnailed.
    processed = images.process(samples.png_bomb(6000, 6000))
    assert (processed.width, processed.height) == (6000, 6000)
    assert Image.open(io.BytesIO(processed.thumbnail)).size == (256, 256)


def test_over_five_mebibytes_is_refused() -> None:
    with pytest.raises(InvalidImage, match="too large"):
        images.process(b"\xff" * (images.MAX_BYTES + 1))


def test_jpeg_orientation_is_applied_before_the_exif_goes() -> None:
    picture = Image.new("RGB", (200, 100), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    processed = images.process(out.getvalue())
    assert (processed.width, processed.height) == (100, 200)
    stored = Image.open(io.BytesIO(processed.data))
    assert stored.size == (100, 200)
    assert 0x0112 not in stored.getexif()
    thumbnail = Image.open(io.BytesIO(processed.thumbnail))
    assert thumbnail.size == (100, 200)  # smaller than 256: left as it is


def test_an_animated_gif_keeps_its_first_frame() -> None:
    frames = [Image.new("P", (64, 64), color) for color in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    processed = images.process(out.getvalue())
    stored = Image.open(io.BytesIO(processed.data))
    assert getattr(stored, "n_frames", 1) == 1
    assert processed.content_type == "image/gif"
