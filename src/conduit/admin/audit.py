"""The audit records account administration writes: roles and bans (see
:mod:`conduit.core.audit`). The ``conduit users grant|revoke`` command writes them too, through
the same use cases.
"""

from __future__ import annotations

from conduit.core.audit import AuditType

ROLE_GRANTED = AuditType("user.role_granted")
ROLE_REVOKED = AuditType("user.role_revoked")
USER_BANNED = AuditType("user.banned")
USER_UNBANNED = AuditType("user.unbanned")

TYPES = (ROLE_GRANTED, ROLE_REVOKED, USER_BANNED, USER_UNBANNED)
