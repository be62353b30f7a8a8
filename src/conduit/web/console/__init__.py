"""The moderation console at ``/admin``, for moderators and admins, on the same web session.

One module per concern, each ending with its ``ROUTES``: the overview (``overview``), the
accounts (``users``: search, bans, roles), articles and comments (``content``: delete with
a reason), the audit log (``audit_log``) and the operations views (``operations``: event
delivery, dead letters, rate-limit refusals). Every page calls the use cases of the
features (``conduit.admin``, ``conduit.articles``, ``conduit.comments``), which decide who
may do what (:mod:`conduit.core.policy`) and audit every change; ``access`` turns away the
anonymous (to ``/login``) and readers without a role (403).
"""

from __future__ import annotations

from conduit.web.console import audit_log, content, operations, overview, users

ROUTES = [
    *overview.ROUTES,
    *users.ROUTES,
    *content.ROUTES,
    *audit_log.ROUTES,
    *operations.ROUTES,
]
