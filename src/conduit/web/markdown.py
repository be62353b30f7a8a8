"""Article bodies and comments as HTML: Markdown rendered, then sanitised, then cached.

Bodies are CommonMark (plus GitHub-style tables and ~~strikethrough~~), rendered by
markdown-it-py with raw HTML turned off: whatever HTML an author types shows as text, so
the Markdown renderer never emits an element the author wrote. The HTML it does emit then
passes nh3 with an explicit allow-list of elements, attributes and URL schemes, so that a
flaw in either layer alone cannot put a script, an event handler, a style or a
``javascript:`` URL in front of a reader.

Rendering costs far more than serving, and an article is read many times per edit, so
``ArticleBodies`` keeps the HTML of the most recently read article versions.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markupsafe import Markup

# How many article versions keep their rendered HTML in memory (per process).
CACHED_ARTICLE_VERSIONS = 1024

ALLOWED_TAGS = frozenset(
    {
        *("p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "blockquote"),
        *("em", "strong", "del", "s", "code", "pre", "ul", "ol", "li", "a", "img"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
}
# Table column alignment, as an attribute rather than a style (styles are never let through).
ALLOWED_ATTRIBUTE_VALUES = {
    "th": {"align": {"left", "center", "right"}},
    "td": {"align": {"left", "center", "right"}},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# The class a fenced code block carries for its language (```python -> language-python).
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")


def _table_alignment_as_attribute(state: StateCore) -> None:
    """Turn markdown-it's ``style="text-align:x"`` on table cells into ``align="x"``."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and token.attrs:
            style = str(token.attrs.pop("style", ""))
            if style.startswith("text-align:"):
                token.attrs["align"] = style.removeprefix("text-align:")


def _headings_below_the_title(state: StateCore) -> None:
    """A body's ``# heading`` is an ``h2`` (and so on, down to ``h6``): the article's title is
    the page's one ``h1``, and the body's outline sits under it."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"


def _language_class_only(tag: str, attribute: str, value: str) -> str | None:
    """Keep ``class`` on ``code`` only when it names a language; other attributes as they are."""
    if attribute == "class":
        return value if tag == "code" and _LANGUAGE_CLASS.fullmatch(value) else None
    return value


_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_markdown.core.ruler.push("table_alignment_as_attribute", _table_alignment_as_attribute)
_markdown.core.ruler.push("headings_below_the_title", _headings_below_the_title)

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_language_class_only,
    tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
)


def sanitize(html: str) -> str:
    """``html`` with only the allowed elements, attributes and URL schemes left."""
    return _cleaner.clean(html)


def render_body(body: str) -> Markup:
    """The HTML of a Markdown article body or comment, safe to put in a page as is."""
    # Safe: sanitize() has left only the allow-listed elements, attributes and schemes.
    return Markup(sanitize(_markdown.render(body)))  # noqa: S704


class ArticleBodies:
    """The rendered HTML of recently read article versions: each version is rendered once.

    Keyed by (article id, ``updated_at``): an edit moves ``updated_at`` (microseconds on
    every database), so the edited body is rendered anew and the old version ages out of
    the least-recently-read end. Safe to share between threads; two readers of a version
    not yet cached may both render it, and the same HTML is kept.
    """

    def __init__(
        self,
        render: Callable[[str], Markup] = render_body,
        max_versions: int = CACHED_ARTICLE_VERSIONS,
    ) -> None:
        self._render = render
        self._max_versions = max_versions
        self._html: OrderedDict[tuple[int, dt.datetime], Markup] = OrderedDict()
        self._lock = threading.Lock()

    def rendered(self, article_id: int, updated_at: dt.datetime, body: str) -> Markup:
        """The HTML of ``body``, the body of article ``article_id`` as of ``updated_at``."""
        key = (article_id, updated_at)
        with self._lock:
            html = self._html.get(key)
            if html is not None:
                self._html.move_to_end(key)
                return html
        html = self._render(body)
        with self._lock:
            self._html[key] = html
            self._html.move_to_end(key)
            while len(self._html) > self._max_versions:
                self._html.popitem(last=False)
        return html

    def __len__(self) -> int:
        return len(self._html)
