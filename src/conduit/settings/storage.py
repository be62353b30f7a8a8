"""Uploaded images: a local folder or an S3-compatible store."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class StorageSettings(BaseModel):
    """Where uploads go and how long unreferenced ones are kept."""

    storage_url: str | None = Field(
        default=None,
        description="Where uploaded images go: s3://bucket (an S3-compatible store). Unset: "
        "the folder <data_dir>/media, served by the API at /media/{key}.",
    )
    media_base_url: str = Field(
        default="/media",
        description="Base of the links to uploaded images (user.image, upload.url): the "
        "API's /media route, or its absolute URL (https://api.example.com/media) when the "
        "frontend is served from another origin.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (unset: AWS); e.g. http://127.0.0.1:8333."
    )
    s3_region: str | None = Field(default=None, description="S3 region (default us-east-1).")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")
    s3_url_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Lifetime of the presigned GET URLs /media/{key} redirects to.",
    )
    upload_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="Uploads no user and no article refers to are deleted after this long "
        "(by the worker, or conduit uploads prune).",
    )
    upload_prune_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the worker (or conduit serve with the embedded bus) prunes "
        "unreferenced uploads.",
    )
