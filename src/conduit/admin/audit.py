"""The audit records account administration writes: roles and bans (see
:mod:`conduit.core.audit`), and the replays of dead letters. The ``conduit users grant|revoke``
and ``conduit events replay`` commands write them too, through the same use cases.
"""

from __future__ import annotations

from conduit.core.audit import AuditType

ROLE_GRANTED = AuditType("user.role_granted")
ROLE_REVOKED = AuditType("user.role_revoked")
USER_BANNED = AuditType("user.banned")
USER_UNBANNED = AuditType("user.unbanned")
# An event a consumer gave up on was queued again (from the console or the command line).
DEAD_LETTER_REPLAYED = AuditType("dead_letter.replayed")

TYPES = (ROLE_GRANTED, ROLE_REVOKED, USER_BANNED, USER_UNBANNED, DEAD_LETTER_REPLAYED)
