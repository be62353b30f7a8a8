"""The uploads table: one row per stored image (and its thumbnail)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


class UploadRow(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_owner_id", "owner_id"),
        Index("ix_uploads_created_at", "created_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    thumbnail_key: Mapped[str] = mapped_column(String(64))
    # NULL once the owner's account is deleted: the row stays until prune removes it with
    # its objects (a cascade would forget objects that still sit in the storage).
    owner_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


uploads = cast(Table, UploadRow.__table__)


@dataclass(frozen=True, slots=True)
class Upload:
    id: int
    key: str
    thumbnail_key: str
    owner_id: int | None
    content_type: str
    size: int
    width: int
    height: int
    created_at: dt.datetime

    @property
    def stem(self) -> str:
        """The random part of the key, shared by the image and its thumbnail."""
        return self.key.split(".", 1)[0]
