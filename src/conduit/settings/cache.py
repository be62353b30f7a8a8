"""Redis (or Memcached) for the response cache across instances."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CacheSettings(BaseModel):
    """The response cache and the Redis that live updates and rate limits share."""

    redis_url: str | None = Field(
        default=None, description="Redis for the cache and live updates across instances"
    )
    cache_url: str | None = Field(
        default=None,
        description="Where the response cache lives: memcached://host:port, or a Redis URL; "
        "unset: CONDUIT_REDIS_URL's Redis (no response cache without either).",
    )
    cache_ttl_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Lifetime of a cached response in Redis; an upper bound on staleness if "
        "an invalidation is ever lost (a network split between one instance and Redis).",
    )
    cache_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        le=5,
        description="Timeout of a cache call; past it the request reads the database (and "
        "after a few in a row the cache is bypassed until Redis answers again).",
    )
