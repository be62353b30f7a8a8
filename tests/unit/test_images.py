"""Checking and re-encoding images (Pillow), without HTTP."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


def test_a_multi_picture_jpeg_from_a_phone_is_a_jpeg() -> None:
    first, second = Image.new("RGB", (100, 80), "red"), Image.new("RGB", (100, 80), "blue")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    processed = images.process(out.getvalue())
    assert processed.content_type == "image/jpeg"
    stored = Image.open(io.BytesIO(processed.data))
    assert (stored.format, getattr(stored, "n_frames", 1)) == ("JPEG", 1)
    assert stored.getpixel((50, 40))[0] > 200  # the first picture (red)


_VALID = [
    samples.png(60, 40),
    samples.gif(60, 40),
    samples.webp(60, 40),
    samples.jpeg_with_gps(60, 40),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on a damaged EXIF block
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, len(_VALID) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_damaged_images_are_refused_or_stored_never_a_surprise(
    which: int, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(_VALID[which])
    for position, value in edits:
        data[position % len(data)] = value
    damaged = bytes(data[: max(1, len(data) - cut % len(data))])
    try:
        processed = images.process(damaged)
    except InvalidImage:
        return
    assert processed.content_type in {"image/png", "image/gif", "image/webp", "image/jpeg"}
