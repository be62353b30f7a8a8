"""Writing articles through the editor, as the web tests' readers do."""

from __future__ import annotations

from tests.web.conftest import Browser, error_messages


async def write(
    browser: Browser,
    title: str = "Dragons",
    body: str = "How to train your dragon.",
    tags: list[str] | None = None,
) -> str:
    """Publish an article through the editor; its slug."""
    fields: dict[str, str | list[str]] = {
        "title": title,
        "description": f"About {title}",
        "body": body,
        "tagList": tags or [],
        "tagList_present": "1",
    }
    answer = await browser.post("/editor", fields, page="/editor")
    assert answer.status_code == 303, error_messages(answer.text)
    location = answer.headers["location"]
    assert location.startswith("/article/")
    return location.removeprefix("/article/")
