"""Errors of the uploads feature: every refused image answers 422 on the field ``image``."""

from __future__ import annotations

from conduit.core.errors import ConduitError, Invalid


class InvalidImage(Invalid):
    def __init__(self, message: str = "is not a JPEG, PNG, WebP or GIF image") -> None:
        super().__init__("image", message)


class TooManyPixels(InvalidImage):
    def __init__(self, limit: int) -> None:
        super().__init__(f"is too large (at most {limit // 1_000_000} megapixels)")


class ImageTooLarge(ConduitError):
    """An image over the byte limit: 413, like a body over the request cap."""

    status = 413
    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__("image", f"is too large (maximum is {limit} bytes)")
