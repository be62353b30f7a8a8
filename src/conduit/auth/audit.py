"""The audit records the auth feature writes: sign-ins and sessions (see
:mod:`conduit.core.audit`).
"""

from __future__ import annotations

from conduit.core.audit import AuditType

LOGIN_SUCCEEDED = AuditType("login.succeeded")  # a password or OpenID Connect login, a sign-up
LOGIN_FAILED = AuditType("login.failed")
REFRESH_REUSED = AuditType("session.refresh_reused")  # a rotated refresh token came back
SIGNED_OUT_EVERYWHERE = AuditType("session.signed_out_everywhere")  # or elsewhere: a new password

TYPES = (LOGIN_SUCCEEDED, LOGIN_FAILED, REFRESH_REUSED, SIGNED_OUT_EVERYWHERE)
