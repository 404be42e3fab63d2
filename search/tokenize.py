"""The Chinese tokenizer shared by every search engine (DESIGN.md, "Chinese search semantics").

Contract: a record matches a query when every whitespace-separated query term is a substring of
at least one of its searchable fields, both sides normalised by :func:`normalize` (NFKC, then
lower case).  Engines cannot be trusted to segment Chinese, so we never hand them Chinese:

* each field value is normalised and split on whitespace into *chunks*;
* every character of a chunk becomes a **unigram word** and every pair of neighbouring
  characters a **bigram word**.  A word spells the code points in the letters ``a``..``p``
  (hexadecimal digits 0..f shifted to letters), six letters per code point, so a unigram word is
  6 letters and a bigram word 12: opaque lower-case ASCII that no segmenter, stemmer, camelCase
  or digit splitter alters;
* bigram words go, in order, into a *bigram stream*; after each chunk the stream gets the gap
  word ``q`` (a letter outside ``a``..``p`` that no query ever contains), so a phrase can never
  run across two fields or across a space inside a field;
* unigram words go, de-duplicated, into a *unigram stream* (order does not matter).

A query term of one character becomes its unigram word; a longer term becomes the phrase of its
consecutive bigram words.  "Term is a substring of a chunk" is then exactly "the phrase occurs in
the bigram stream" (positions are consecutive because the chunk's bigrams are), and "the unigram
word occurs in the unigram stream".

Decision on ASCII: letters and digits get no special word treatment; every character, CJK or
not, is handled the same way.  That keeps one rule (substring) for 豫财农〔2023〕12号, card
tails and names alike, at the cost of slightly longer streams for ASCII-heavy fields.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "GAP",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "IndexTokens",
    "char_word",
    "field_text",
    "highlight",
    "index_tokens",
    "normalize",
    "query_phrases",
    "query_terms",
    "stream_has_phrase",
]

MAX_QUERY_CHARS = 100
MAX_QUERY_TERMS = 10
GAP = "q"
_LETTERS = "abcdefghijklmnop"
_WORDS: dict[str, str] = {}


def normalize(text: str) -> str:
    """NFKC then lower case: full-width digits/letters fold to ASCII, ideographic space to space."""
    return unicodedata.normalize("NFKC", text).lower()


def char_word(ch: str) -> str:
    """The opaque 6-letter word for one character (code point in hex, digits spelled a..p)."""
    word = _WORDS.get(ch)
    if word is None:
        n = ord(ch)
        word = "".join(_LETTERS[(n >> shift) & 15] for shift in (20, 16, 12, 8, 4, 0))
        _WORDS[ch] = word
    return word


def field_text(value: object) -> list[str]:
    """The searchable strings of one field value (None → none, list → each element)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        out: list[str] = []
        for item in value:
            out.extend(field_text(item))
        return out
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


@dataclass(frozen=True, slots=True)
class IndexTokens:
    """The two word streams of a document, each a space-separated string."""

    bigrams: str
    unigrams: str


_CHUNK_CACHE: dict[str, tuple[str, tuple[str, ...]]] = {}
_CHUNK_CACHE_MAX = 200_000


def _chunk_words(text: str) -> tuple[str, tuple[str, ...]]:
    """(bigram stream fragment ending with the gap word, unigram words) for one raw field text."""
    cached = _CHUNK_CACHE.get(text)
    if cached is not None:
        return cached
    bigram_parts: list[str] = []
    unigrams: list[str] = []
    for chunk in normalize(text).split():
        words = [char_word(c) for c in chunk]
        unigrams.extend(words)
        bigram_parts.extend(a + b for a, b in zip(words, words[1:]))
        bigram_parts.append(GAP)
    result = (" ".join(bigram_parts), tuple(unigrams))
    if len(_CHUNK_CACHE) >= _CHUNK_CACHE_MAX:
        _CHUNK_CACHE.clear()
    _CHUNK_CACHE[text] = result
    return result


def index_tokens(values: Iterable[object]) -> IndexTokens:
    """Word streams for the searchable field values of one document (any order of fields)."""
    bigram_parts: list[str] = []
    unigrams: dict[str, None] = {}
    for value in values:
        for text in field_text(value):
            bigrams, words = _chunk_words(text)
            if bigrams:
                bigram_parts.append(bigrams)
            unigrams.update(dict.fromkeys(words))
    return IndexTokens(" ".join(bigram_parts), " ".join(unigrams))


def query_terms(q: str) -> list[str]:
    """Normalised, whitespace-separated query terms, duplicates removed, order kept."""
    return list(dict.fromkeys(normalize(q or "").split()))


def query_phrases(q: str) -> list[list[str]]:
    """Each query term as the phrase that must occur: [unigram] or consecutive bigram words."""
    phrases: list[list[str]] = []
    for term in query_terms(q):
        words = [char_word(c) for c in term]
        if len(words) == 1:
            phrases.append(words)
        else:
            phrases.append([a + b for a, b in zip(words, words[1:])])
    return phrases


def stream_has_phrase(bigrams: str, phrase: list[str]) -> bool:
    """Whether the bigram ``phrase`` of a term of 2+ characters (:func:`query_phrases`) occurs
    as consecutive words of the bigram stream ``bigrams`` (:attr:`IndexTokens.bigrams`).

    This is the contract itself: the term is a substring of one chunk of one field.  Words are
    separated by single spaces and never contain one, so a match on word boundaries is a match
    of whole words.
    """
    return f" {' '.join(phrase)} " in f" {bigrams} "


def highlight(text: str, terms: Iterable[str] | str) -> list[tuple[str, bool]]:
    """Split displayed ``text`` into (segment, is_match) pieces for the query ``terms``.

    ``terms`` is the raw query string or its terms.  Matching follows the search contract
    (normalised substring); segments are slices of the original text, so joining them gives
    ``text`` back.  Overlapping and adjacent matches merge into one highlighted segment.
    """
    if isinstance(terms, str):
        terms = query_terms(terms)
    else:
        terms = [t for term in terms for t in query_terms(term)]
    if not text:
        return []
    # Normalise character by character so every normalised index maps back to an original one.
    norm_chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for n in normalize(ch):
            norm_chars.append(n)
            origin.append(i)
    norm = "".join(norm_chars)
    marked = [False] * len(text)
    for term in terms:
        start = norm.find(term)
        while start != -1:
            for j in range(start, start + len(term)):
                marked[origin[j]] = True
            start = norm.find(term, start + 1)
    pieces: list[tuple[str, bool]] = []
    begin = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or marked[i] != marked[begin]:
            pieces.append((text[begin:i], marked[begin]))
            begin = i
    return pieces
