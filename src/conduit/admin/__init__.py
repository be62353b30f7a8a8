"""Account administration: roles, bans (which revoke the user's sessions) and the audit
view, for moderators and admins (``service``, ``router``, ``schemas``)."""
