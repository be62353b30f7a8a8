"""The audit records the comments feature writes (see :mod:`conduit.core.audit`)."""

from __future__ import annotations

from conduit.core.audit import AuditType

# A moderator (or an admin) deleted someone else's comment; an author's own is not recorded.
COMMENT_MODERATED = AuditType("comment.deleted_by_moderator")

TYPES = (COMMENT_MODERATED,)
