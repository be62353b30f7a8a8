"""Account administration and moderation: roles and the audit view for admins
(``service``, ``router``, ``schemas``), bans (``bans``: moderators ban users, admins anyone),
what moderators see of the accounts (``accounts``), and the operations views of event
delivery, dead letters and rate-limit refusals (``operations``)."""
