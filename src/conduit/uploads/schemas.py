"""Response bodies of the uploads endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from conduit.uploads.service import StoredUpload


class UploadBody(BaseModel):
    url: str = Field(description="Stable link to the image (GET /media/{key}).")
    width: int
    height: int
    contentType: str = Field(examples=["image/jpeg"])
    size: int = Field(description="Bytes of the stored (re-encoded) image.")
    thumbnailUrl: str = Field(description="The image scaled to 256 pixels on its longest side.")


class UploadResponse(BaseModel):
    upload: UploadBody


def upload_json(stored: StoredUpload) -> dict[str, Any]:
    upload = stored.upload
    return {
        "upload": {
            "url": stored.url,
            "width": upload.width,
            "height": upload.height,
            "contentType": upload.content_type,
            "size": upload.size,
            "thumbnailUrl": stored.thumbnail_url,
        }
    }
