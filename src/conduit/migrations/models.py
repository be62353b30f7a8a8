"""Import every feature's tables so that Base.metadata knows the whole schema."""

from __future__ import annotations


def load_all_models() -> None:
    import conduit.articles.models
    import conduit.auth.models
    import conduit.auth.oidc.models
    import conduit.comments.models
    import conduit.core.audit
    import conduit.core.outbox
    import conduit.notifications.models
    import conduit.profiles.models
    import conduit.tags.models
    import conduit.uploads.models
    import conduit.users.models  # noqa: F401
