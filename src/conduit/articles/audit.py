"""The audit records the articles feature writes (see :mod:`conduit.core.audit`)."""

from __future__ import annotations

from conduit.core.audit import AuditType

# A moderator (or an admin) deleted someone else's article; an author's own is not recorded.
ARTICLE_MODERATED = AuditType("article.deleted_by_moderator")

TYPES = (ARTICLE_MODERATED,)
