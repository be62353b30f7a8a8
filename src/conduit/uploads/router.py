"""REST routes of the uploads feature: POST /user/image, POST /uploads, GET /media/{key}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from conduit.core.storage import is_valid_key
from conduit.http.kit import (
    DB,
    AppSettings,
    CurrentUser,
    JSONReply,
    PresentedToken,
    Storage,
    error_responses,
)
from conduit.uploads import service
from conduit.uploads.exceptions import ImageTooLarge, InvalidImage
from conduit.uploads.images import MAX_BYTES
from conduit.uploads.schemas import UploadResponse, upload_json
from conduit.users.schemas import UserResponse, user_json

router = APIRouter(tags=["Uploads"])
# Served at the root (/media/{key}), beside /api: the links stay short and cacheable.
media_router = APIRouter(tags=["Uploads"])

# The request body cap of the upload routes (the HTTP pipeline): the image plus room for the
# multipart framing. An image over MAX_BYTES inside that room still answers 413.
UPLOAD_BODY_BYTES = MAX_BYTES + 64 * 1024
UPLOAD_PATHS = ("/user/image", "/uploads")

# Objects never change under a key (keys are random, never reused).
IMMUTABLE = "public, max-age=31536000, immutable"

_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "A JPEG, PNG, WebP or GIF image: at most 5 MiB "
                            "and 40 megapixels.",
                        }
                    },
                }
            }
        },
    }
}


async def read_image(request: Request) -> bytes:
    """The bytes of the multipart field ``image``; anything else is a 422 on ``image``."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidImage("must be sent as multipart/form-data in the field image")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise  # 413 from the body cap
        raise InvalidImage("must be sent as multipart/form-data in the field image") from None
    try:
        field = form.get("image")
        if not isinstance(field, UploadFile):
            raise InvalidImage("is missing")
        if field.size is not None and field.size > MAX_BYTES:
            raise ImageTooLarge(MAX_BYTES)
        data = await field.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ImageTooLarge(MAX_BYTES)
        return data
    finally:
        await form.close()


@router.post(
    "/user/image",
    response_model=UserResponse,
    responses=error_responses(401, 403, 413, 422),
    summary="Set the current user's avatar",
    description="Uploads an image (multipart field `image`) and makes it the user's `image`; "
    "answers the user as GET /user does. The avatar it replaces, if it was an upload, is "
    "deleted.",
    operation_id="SetCurrentUserImage",
    openapi_extra=_MULTIPART_BODY,
)
async def set_user_image(
    request: Request,
    user: CurrentUser,
    db: DB,
    token: PresentedToken,
    storage: Storage,
    settings: AppSettings,
) -> JSONReply:
    data = await read_image(request)
    account = await service.set_avatar(
        db, storage, actor=user, data=data, media_base_url=settings.media_base_url
    )
    return JSONReply(user_json(account, token))


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResponse,
    responses=error_responses(401, 403, 413, 422),
    summary="Upload an image for an article",
    description="Stores an image (multipart field `image`) with its metadata removed and a "
    "thumbnail of 256 pixels on its longest side. Uploads no article links to within a "
    "day are deleted.",
    operation_id="CreateUpload",
    openapi_extra=_MULTIPART_BODY,
)
async def create_upload(
    request: Request, user: CurrentUser, db: DB, storage: Storage, settings: AppSettings
) -> JSONReply:
    data = await read_image(request)
    stored = await service.store(
        db, storage, actor=user, data=data, media_base_url=settings.media_base_url
    )
    return JSONReply(upload_json(stored), status_code=201)


@media_router.get(
    "/media/{key}",
    response_class=Response,
    responses={
        200: {"content": {"image/*": {}}, "description": "The image"},
        302: {"description": "To a presigned URL of the S3 bucket"},
        **error_responses(404),
    },
    summary="An uploaded image",
    operation_id="GetMedia",
    include_in_schema=False,
)
async def media(key: str, storage: Storage) -> Response:
    not_found = HTTPException(status_code=404)
    if not is_valid_key(key):
        raise not_found
    if storage.direct:
        return RedirectResponse(
            await storage.url(key),
            status_code=302,
            headers={"Cache-Control": "private, max-age=60"},
        )
    stored = await storage.get(key)
    if stored is None:
        raise not_found
    return Response(
        stored.data,
        media_type=stored.content_type,
        headers={
            "Cache-Control": IMMUTABLE,
            "X-Content-Type-Options": "nosniff",
            # Public images, shown by a frontend on another origin (the API's default is
            # same-origin, which would keep them out of its <img> tags).
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
