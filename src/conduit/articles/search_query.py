"""What a reader typed in the search box, parsed into words, phrases and exclusions.

The text is never passed to a database as query syntax. It is cut into *items*: a bare
word, or a ``"quoted phrase"``, each of which may be prefixed by ``-`` to exclude it. Each
item keeps only its words (runs of letters and digits, lower-cased), so a word like
``node.js`` becomes the phrase ``node js``, and every operator character of every
dialect (``" * : ^ ( ) + - ~ < > @ ! & | '`` and backslashes) disappears before rendering.
``AND``, ``OR``, ``NOT`` and ``NEAR`` are plain words here, always quoted in the output.

The renderings build each dialect's query from those words alone:

- SQLite FTS5: ``"w1" AND "w2 w3" NOT "x"`` (every item double-quoted);
- PostgreSQL: text for ``websearch_to_tsquery`` with every item double-quoted, one for
  the wanted items and one (joined by ``or``) for the excluded ones;
- MariaDB boolean mode: ``+"w1" +"w2 w3" -"x"``, leaving out words the InnoDB full-text
  index never holds (shorter than 3 characters, longer than 84, or stopwords).

A query with nothing left to look for (only exclusions, or only punctuation) finds nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_ITEMS = 16  # words and phrases looked for, plus exclusions; the rest is ignored
MAX_PHRASE_WORDS = 16
MAX_WORD_CHARS = 84  # longer words are not indexed by InnoDB, nor typed by anyone

# A chunk: an optional minus, then a quoted phrase (an unclosed quote runs to the end) or
# a run of characters that are neither white space nor quotes.
_CHUNK = re.compile(r'(-?)(?:"([^"]*)(?:"|$)|([^\s"]+))')
_WORD = re.compile(r"[^\W_]+")

# innodb_ft_min_token_size and max_token_size (the defaults), and the default InnoDB
# stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
MARIADB_MIN_WORD = 3
MARIADB_MAX_WORD = 84
MARIADB_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the this "
    "to und was what when where who will with www".split()
)

Item = tuple[str, ...]  # the words of one search item: one word, or a phrase


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The parsed search text: items to find (all of them), items to exclude (any of them)."""

    wanted: tuple[Item, ...] = ()
    excluded: tuple[Item, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing to look for: such a query finds no article."""
        return not self.wanted

    # --- SQLite FTS5 ---------------------------------------------------------------------

    def fts5(self) -> str:
        """The MATCH expression; every item is a double-quoted FTS5 string."""
        found = " AND ".join(_fts5_string(item) for item in self.wanted)
        if not self.excluded:
            return found
        excluded = " ".join(f"NOT {_fts5_string(item)}" for item in self.excluded)
        return f"({found}) {excluded}"

    # --- PostgreSQL ----------------------------------------------------------------------

    def websearch(self) -> str:
        """Text for ``websearch_to_tsquery``: all wanted items, each quoted."""
        return " ".join(_websearch_string(item) for item in self.wanted)

    def websearch_excluded(self) -> str:
        """Text for ``websearch_to_tsquery`` matching any excluded item ("" when none)."""
        return " or ".join(_websearch_string(item) for item in self.excluded)

    # --- MariaDB -------------------------------------------------------------------------

    def mariadb_wanted(self) -> tuple[Item, ...]:
        """The wanted items an InnoDB full-text index can find (others would match nothing)."""
        return tuple(item for item in self.wanted if _mariadb_indexed(item))

    def mariadb_boolean(self) -> str:
        """``+"item" ... -"item"`` for ``MATCH ... AGAINST (... IN BOOLEAN MODE)``."""
        wanted = [f"+{_boolean_string(item)}" for item in self.mariadb_wanted()]
        excluded = [f"-{_boolean_string(item)}" for item in self.excluded if _mariadb_indexed(item)]
        return " ".join(wanted + excluded)

    def mariadb_any(self) -> str:
        """The wanted items without operators: a relevance score for any of them."""
        return " ".join(_boolean_string(item) for item in self.mariadb_wanted())


def _fts5_string(item: Item) -> str:
    text = " ".join(item)
    return '"' + text.replace('"', '""') + '"'


def _websearch_string(item: Item) -> str:
    return '"' + " ".join(item).replace('"', " ") + '"'


def _boolean_string(item: Item) -> str:
    return '"' + " ".join(item).replace('"', " ") + '"'


def _mariadb_indexed(item: Item) -> bool:
    """At least one word of the item is in an InnoDB full-text index."""
    return any(
        MARIADB_MIN_WORD <= len(word) <= MARIADB_MAX_WORD and word not in MARIADB_STOPWORDS
        for word in item
    )


def _words(text: str) -> Item:
    words = (word for word in _WORD.findall(text.lower()) if len(word) <= MAX_WORD_CHARS)
    return tuple(words)[:MAX_PHRASE_WORDS]


def parse(text: str) -> SearchQuery:
    """Parse search-box text; never fails, whatever the text."""
    text = unicodedata.normalize("NFKC", text)
    wanted: list[Item] = []
    excluded: list[Item] = []
    for match in _CHUNK.finditer(text):
        if len(wanted) + len(excluded) >= MAX_ITEMS:
            break
        minus, phrase, word = match.groups()
        item = _words(phrase if phrase is not None else word)
        if not item:
            continue
        target = excluded if minus else wanted
        if item not in target:
            target.append(item)
    return SearchQuery(wanted=tuple(wanted), excluded=tuple(excluded))
