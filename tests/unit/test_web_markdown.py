"""Article bodies as readers see them: CommonMark HTML, no scripts, each version rendered once."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from conduit.web.markdown import ALLOWED_TAGS, ArticleBodies, render_body, sanitize
from tests.web_payloads import XSS_PAYLOADS

# What a browser ignores in a URL before its scheme: whitespace and control characters.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_DANGEROUS_SCHEMES = ("javascript:", "data:", "vbscript:")
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcdoc", "data"}


class Elements(HTMLParser):
    """Every element of a piece of HTML as (tag, attributes), as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))


def problems(html: str) -> list[str]:
    """What in ``html`` could run a script or restyle the page (nothing, when it is safe)."""
    found = []
    for tag, attributes in Elements(html).elements:
        if tag not in ALLOWED_TAGS:
            found.append(f"<{tag}>")
        for name, value in attributes.items():
            if name.startswith("on") or name == "style":
                found.append(f"<{tag} {name}>")
            url = _IGNORED_IN_SCHEME.sub("", value).lower()
            if name in _URL_ATTRIBUTES and url.startswith(_DANGEROUS_SCHEMES):
                found.append(f"<{tag} {name}={value!r}>")
    if re.search(r"<\s*script", html, re.IGNORECASE):
        found.append("<script")
    return found


def test_headings_emphasis_and_paragraphs_follow_commonmark() -> None:
    """Headings sit one level under the article's title (the page's one h1)."""
    html = render_body(
        "# Title\n\n## Part\n\n###### Deep\n\nSome *soft* and **strong** words.\n\nNext."
    )

    assert html == (
        "<h2>Title</h2>\n<h3>Part</h3>\n<h6>Deep</h6>\n"
        "<p>Some <em>soft</em> and <strong>strong</strong> words.</p>\n<p>Next.</p>\n"
    )


def test_lists_keep_their_order_and_start() -> None:
    html = render_body("- apples\n- pears\n\n3. three\n4. four\n")

    assert html == (
        "<ul>\n<li>apples</li>\n<li>pears</li>\n</ul>\n"
        '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'
    )


def test_fenced_code_carries_its_language_and_escapes_its_text() -> None:
    html = render_body("```python\nif a < b:\n    pass\n```\n\nInline `x < y`.")

    assert html == (
        '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>\n'
        "<p>Inline <code>x &lt; y</code>.</p>\n"
    )


def test_a_language_that_is_not_a_plain_name_is_dropped() -> None:
    html = render_body('```js" onmouseover="alert(1)\nx\n```')

    assert html == "<pre><code>x\n</code></pre>\n"


def test_links_keep_their_target_and_title_and_tell_the_browser_not_to_trust_them() -> None:
    html = render_body('[Conduit](https://example.com/a?b=1&c=2 "Home") and <me@example.com>')

    assert html == (
        '<p><a href="https://example.com/a?b=1&amp;c=2" title="Home" '
        'rel="noopener noreferrer nofollow">Conduit</a> and '
        '<a href="mailto:me@example.com" rel="noopener noreferrer nofollow">'
        "me@example.com</a></p>\n"
    )


def test_images_blockquotes_rules_and_strikethrough() -> None:
    html = render_body("> quoted ~~gone~~\n\n---\n\n![a cat](https://example.com/cat.png)")

    assert html == (
        "<blockquote>\n<p>quoted <s>gone</s></p>\n</blockquote>\n<hr>\n"
        '<p><img src="https://example.com/cat.png" alt="a cat"></p>\n'
    )


def test_tables_keep_their_column_alignment_without_styles() -> None:
    html = render_body("| name | count |\n|:-----|------:|\n| a | 1 |\n")

    assert html == (
        '<table>\n<thead>\n<tr>\n<th align="left">name</th>\n<th align="right">count</th>\n'
        '</tr>\n</thead>\n<tbody>\n<tr>\n<td align="left">a</td>\n<td align="right">1</td>\n'
        "</tr>\n</tbody>\n</table>\n"
    )


def test_html_an_author_types_shows_as_text() -> None:
    html = render_body("Use <b>bold</b> & <script>alert(1)</script>")

    assert (
        html == "<p>Use &lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )


def test_the_rendered_body_goes_into_a_page_unescaped() -> None:
    assert isinstance(render_body("*hi*"), Markup)


@pytest.mark.parametrize(("name", "markdown"), XSS_PAYLOADS, ids=[n for n, _ in XSS_PAYLOADS])
def test_no_payload_survives_rendering(name: str, markdown: str) -> None:
    assert problems(render_body(markdown)) == []


@pytest.mark.parametrize(("name", "markdown"), XSS_PAYLOADS, ids=[n for n, _ in XSS_PAYLOADS])
def test_no_payload_survives_sanitising_as_html(name: str, markdown: str) -> None:
    # The second layer alone, as if the Markdown renderer had let the author's HTML through.
    assert problems(sanitize(markdown)) == []


def test_the_checks_see_a_payload_that_was_let_through() -> None:
    assert problems('<img src=x onerror=alert(1)><a href=" JaVa\tScRiPt:x">') == [
        "<img onerror>",
        "<a href=' JaVa\\tScRiPt:x'>",
    ]
    assert problems("<svg><script>alert(1)</script></svg>") == ["<svg>", "<script>", "<script"]


class CountingRenderer:
    """render_body, counting the bodies it renders."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def __call__(self, body: str) -> Markup:
        self.rendered.append(body)
        return render_body(body)


PUBLISHED = dt.datetime(2024, 5, 1, 12, 0, 0, 1)
EDITED = dt.datetime(2024, 5, 1, 12, 0, 0, 2)


def test_an_article_version_is_rendered_once_however_often_it_is_read() -> None:
    renderer = CountingRenderer()
    bodies = ArticleBodies(render=renderer)

    first = bodies.rendered(7, PUBLISHED, "# Hello")
    again = bodies.rendered(7, PUBLISHED, "# Hello")

    assert first == again == "<h2>Hello</h2>\n"
    assert renderer.rendered == ["# Hello"]


def test_an_edited_article_is_rendered_anew() -> None:
    renderer = CountingRenderer()
    bodies = ArticleBodies(render=renderer)
    bodies.rendered(7, PUBLISHED, "# Hello")

    edited = bodies.rendered(7, EDITED, "# Hello again")

    assert edited == "<h2>Hello again</h2>\n"
    assert renderer.rendered == ["# Hello", "# Hello again"]


def test_articles_with_the_same_timestamp_are_kept_apart() -> None:
    bodies = ArticleBodies()

    assert bodies.rendered(1, PUBLISHED, "one") == "<p>one</p>\n"
    assert bodies.rendered(2, PUBLISHED, "two") == "<p>two</p>\n"


def test_the_least_recently_read_versions_are_forgotten_first() -> None:
    renderer = CountingRenderer()
    bodies = ArticleBodies(render=renderer, max_versions=2)
    bodies.rendered(1, PUBLISHED, "one")
    bodies.rendered(2, PUBLISHED, "two")
    bodies.rendered(1, PUBLISHED, "one")  # read again: article 2 is now the oldest read

    bodies.rendered(3, PUBLISHED, "three")
    bodies.rendered(1, PUBLISHED, "one")
    bodies.rendered(2, PUBLISHED, "two")

    assert len(bodies) == 2
    assert renderer.rendered == ["one", "two", "three", "two"]
