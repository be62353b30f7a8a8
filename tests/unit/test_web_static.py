"""The web app's static files (src/conduit/web/static, served at /static/web/): the theme
loads nothing from another origin and every icon it names exists, the images are valid SVG,
the theme's text colours meet WCAG AA on their own backgrounds, and the script stays within
the page's CSP and never writes markup from text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "src" / "conduit" / "web" / "static"
CSS = (STATIC / "conduit.css").read_text(encoding="utf-8")
SCRIPT = (STATIC / "conduit.js").read_text(encoding="utf-8")
SVG = "{http://www.w3.org/2000/svg}svg"

# The RealWorld icon classes Conduit's templates use.
ICON_CLASSES = [
    "ion-heart",
    "ion-compose",
    "ion-edit",
    "ion-gear-a",
    "ion-plus-round",
    "ion-trash-a",
    "ion-close-round",
]

URL = re.compile(r"url\(\s*['\"]?([^'\")]+?)['\"]?\s*\)")
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
COMMENT = re.compile(r"/\*.*?\*/", re.S)
AA_NORMAL_TEXT = 4.5


def css_rules() -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) of every innermost rule of the theme."""
    rules = []
    for selector, body in RULE.findall(COMMENT.sub("", CSS)):
        declarations = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip()] = value.strip()
        rules.append((" ".join(selector.split()), declarations))
    return rules


def test_every_url_in_the_theme_is_a_file_next_to_it() -> None:
    urls = URL.findall(CSS)
    assert urls
    for url in urls:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.I), url
        assert (STATIC / url).is_file(), url


def test_the_theme_imports_nothing() -> None:
    assert "@import" not in CSS
    assert "@font-face" not in CSS


@pytest.mark.parametrize("icon_class", ICON_CLASSES)
def test_each_template_icon_is_drawn_by_an_svg_of_the_project(icon_class: str) -> None:
    [body] = [body for selector, body in css_rules() if selector == f".{icon_class}::before"]
    [url] = URL.findall(body["mask-image"])
    assert ET.parse(STATIC / url).getroot().tag == SVG


def test_default_avatar_is_an_svg_image() -> None:
    root = ET.parse(STATIC / "default-avatar.svg").getroot()
    assert root.tag == SVG
    assert root.get("viewBox")
    assert len(root) > 0


def luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_on_its_own_background_meets_wcag_aa() -> None:
    rules = css_rules()
    palette = {name: value for s, body in rules if s == ":root" for name, value in body.items()}

    def solid(value: str | None) -> str | None:
        if value is None:
            return None
        variable = re.fullmatch(r"var\((--[\w-]+)\)", value)
        if variable:
            value = palette[variable.group(1)]
        return value if re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", value) else None

    checked = 0
    for selector, body in rules:
        text = solid(body.get("color"))
        ground = solid(body.get("background-color") or body.get("background"))
        if text and ground:
            ratio = contrast(text, ground)
            assert ratio >= AA_NORMAL_TEXT, f"{selector}: {text} on {ground} is {ratio:.2f}:1"
            checked += 1
    assert checked >= 10  # buttons, pills, pagination, badges
    assert contrast(palette["--text-muted"], "#fff") >= AA_NORMAL_TEXT
    assert contrast(palette["--text-muted"], palette["--surface"]) >= AA_NORMAL_TEXT
    assert contrast(palette["--brand-strong"], "#fff") >= AA_NORMAL_TEXT


def test_keyboard_focus_is_visible() -> None:
    [focus] = [body for selector, body in css_rules() if selector == ":focus-visible"]
    assert focus["outline"].startswith("3px solid")


def test_the_script_runs_under_a_self_only_csp_and_writes_text_only() -> None:
    assert '"use strict"' in SCRIPT
    for forbidden in (
        r"\beval\s*\(",
        r"\bnew\s+Function\b",
        r"\bsetTimeout\s*\(\s*['\"]",
        r"\.innerHTML\b",
        r"\.outerHTML\b",
        r"insertAdjacentHTML",
        r"document\.write",
        r"https?://",
    ):
        assert not re.search(forbidden, SCRIPT), forbidden
    # The tag names typed by the author reach the page as text nodes and input values.
    assert "createTextNode" in SCRIPT


def test_the_script_speaks_the_editor_form_contract() -> None:
    # The server reads the `tags` text field and the `tagList` hidden inputs of #article-form.
    assert 'getElementById("article-form")' in SCRIPT
    assert 'input[name="tags"]' in SCRIPT
    assert 'hidden.name = "tagList"' in SCRIPT
    assert "preventDefault" in SCRIPT  # Enter adds a tag instead of submitting the form
