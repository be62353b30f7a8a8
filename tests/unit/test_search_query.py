"""Search-box text: parsed into words, phrases and exclusions; rendered for each database
without ever passing the reader's text through as query syntax."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduit.articles.search_index import finds_nothing, search_params, search_sql
from conduit.articles.search_query import MAX_ITEMS, SearchQuery, parse

NASTY = [
    '"',
    '""',
    '"unclosed phrase',
    "-",
    "--",
    "- -x",
    "*",
    "a*",
    "title:foo",
    "^start",
    "NEAR(a b)",
    "a AND b",
    "a OR b",
    "NOT a",
    "(a",
    "a)",
    "\\",
    '\\"',
    "'",
    "a'b",
    "!a & b | c",
    "a <-> b",
    "+a -b ~c <d >e @f",
    "%_",
    "\x00a",
    "é" * 100,
    "日本語 テキスト",
    "🐉 dragon",
    "e\u0301cole",
    " ".join(["word"] * 500),
    "x" * 10_000,
]
search_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("\"-*:^()\\ +~<>@!&|'aBé日 ")), max_size=60),
    st.lists(
        st.sampled_from(["AND", "OR", "NOT", "NEAR", '"', "-", "(", ")", "*", ":", "word"]),
        max_size=12,
    ).map(" ".join),
)


def test_words_are_wanted_lower_cased() -> None:
    assert parse("Dragons  FLY") == SearchQuery(wanted=(("dragons",), ("fly",)))


def test_quotes_make_a_phrase_and_minus_excludes() -> None:
    parsed = parse('"blue whale" -shark -"great white" krill')
    assert parsed.wanted == (("blue", "whale"), ("krill",))
    assert parsed.excluded == (("shark",), ("great", "white"))


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse('sea "blue whale').wanted == (("sea",), ("blue", "whale"))


def test_punctuation_inside_a_word_makes_a_phrase() -> None:
    assert parse("node.js").wanted == (("node", "js"),)
    assert parse("-foo-bar").excluded == (("foo", "bar"),)


def test_operators_are_plain_words_or_nothing() -> None:
    parsed = parse("NEAR(a b) AND c OR NOT title:d* ^e")
    assert parsed.wanted == (
        ("near", "a"),
        ("b",),
        ("and",),
        ("c",),
        ("or",),
        ("not",),
        ("title", "d"),
        ("e",),
    )


def test_repeated_items_count_once() -> None:
    assert parse("cat Cat CAT").wanted == (("cat",),)


def test_only_punctuation_or_only_exclusions_finds_nothing() -> None:
    assert parse('*** "" - ()').is_empty
    assert parse("-cats").is_empty


def test_compatibility_forms_are_normalised() -> None:
    fullwidth_full, ligature_fine = "\uff46\uff55\uff4c\uff4c", "\ufb01ne"
    assert parse(f"{fullwidth_full} {ligature_fine}").wanted == (("full",), ("fine",))


def test_at_most_max_items_are_kept() -> None:
    parsed = parse(" ".join(f"w{n}" for n in range(100)))
    assert len(parsed.wanted) == MAX_ITEMS


def test_fts5_rendering_quotes_every_item() -> None:
    parsed = parse('dragons "blue whale" -shark -"great white"')
    assert parsed.fts5() == '("dragons" AND "blue whale") NOT "shark" NOT "great white"'
    assert parse("or and").fts5() == '"or" AND "and"'


def test_postgresql_rendering_quotes_every_item() -> None:
    parsed = parse('dragons "blue whale" -shark -"great white" -or')
    assert parsed.websearch() == '"dragons" "blue whale"'
    assert parsed.websearch_excluded() == '"shark" or "great white" or "or"'
    assert parse("dragons").websearch_excluded() == ""


def test_mariadb_rendering_leaves_out_words_innodb_does_not_index() -> None:
    parsed = parse('go the dragons "the cat" -at -shark')
    assert parsed.mariadb_boolean() == '+"dragons" +"the cat" -"shark"'
    assert parsed.mariadb_any() == '"dragons" "the cat"'
    assert parse("go to it").mariadb_wanted() == ()


FTS5_SYNTAX = re.compile(r'^(\(?"[^"]+"( AND "[^"]+")*(\) NOT "[^"]+"( NOT "[^"]+")*)?)?$')
ITEM = r'"[^\W_]+( [^\W_]+)*"'
WEBSEARCH = re.compile(rf"^({ITEM}( {ITEM})*)?$")
WEBSEARCH_EXCLUDED = re.compile(rf"^({ITEM}( or {ITEM})*)?$")
BOOLEAN = re.compile(rf"^([+-]{ITEM}( [+-]{ITEM})*)?$")


@pytest.mark.parametrize("text", NASTY)
def test_nasty_text_renders_to_plain_quoted_words(text: str) -> None:
    _assert_safe(parse(text))


@settings(max_examples=300)
@given(text=search_text)
def test_any_text_renders_to_plain_quoted_words(text: str) -> None:
    _assert_safe(parse(text))


def _assert_safe(parsed: SearchQuery) -> None:
    if not parsed.is_empty:
        assert FTS5_SYNTAX.match(parsed.fts5()), parsed.fts5()
    assert WEBSEARCH.match(parsed.websearch()), parsed.websearch()
    assert WEBSEARCH_EXCLUDED.match(parsed.websearch_excluded())
    assert BOOLEAN.match(parsed.mariadb_boolean()), parsed.mariadb_boolean()


@pytest.fixture(scope="module")
def fts5() -> sqlite3.Connection:
    """An FTS5 table like the one articles use (SQLite's own query parser, in memory)."""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(title, body, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    connection.execute("INSERT INTO docs VALUES ('Blue whale', 'the sea and a shark')")
    return connection


@settings(max_examples=300)
@given(text=search_text)
def test_sqlite_accepts_every_rendered_match(fts5: sqlite3.Connection, text: str) -> None:
    parsed = parse(text)
    if not parsed.is_empty:
        fts5.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (parsed.fts5(),)).fetchall()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("whale", True),
        ("WHALES", True),  # stemming, any case
        ('"blue whale"', True),
        ('"whale blue"', False),
        ("whale -shark", False),
        ("whale -dolphin", True),
        ("blue AND whale", True),  # "and" is a word of the body
        ("blue OR dolphin", False),  # not an alternative: both words are wanted
    ],
)
def test_sqlite_finds_what_the_reader_means(
    fts5: sqlite3.Connection, text: str, found: bool
) -> None:
    rows = fts5.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (parse(text).fts5(),))
    assert bool(rows.fetchall()) is found


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_each_database_gets_only_bound_values(dialect: str) -> None:
    parsed = parse('whale "blue sea" -shark')
    params = search_params(dialect, parsed)
    sql = search_sql(dialect, excluding=True)
    rendered = " ".join(str(part) for part in (*sql.conditions, sql.most_relevant_first))
    assert "whale" not in rendered  # the reader's words travel as parameters only
    assert {name for name in params} <= {"search", "search_excluded", "search_any"}
    assert all(f":{name}" in rendered for name in params)


def test_a_query_the_index_cannot_answer_finds_nothing_without_asking() -> None:
    assert finds_nothing("sqlite", parse("-whale"))
    assert not finds_nothing("sqlite", parse("go"))
    assert finds_nothing("mysql", parse("go to it"))  # too short or stopwords for InnoDB
    assert not finds_nothing("mysql", parse("go whale"))
