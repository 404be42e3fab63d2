"""The shared tokenizer: opaque words, query phrases, highlighting."""

from __future__ import annotations

import re

from search.tokenize import (
    GAP,
    char_word,
    highlight,
    index_tokens,
    normalize,
    query_phrases,
    query_terms,
)


def test_words_are_opaque_lower_case_letters() -> None:
    tokens = index_tokens(["王庄村", "ＡＢ12", "𠀀x"])
    for word in (tokens.bigrams + " " + tokens.unigrams).split():
        assert re.fullmatch(r"[a-q]+", word)
    assert char_word("王") == "aahdil"  # U+738B and len(char_word("𠀀")) == 6
    assert char_word("A".lower()) == char_word("a")


def test_streams_unigrams_bigrams_and_gaps() -> None:
    tokens = index_tokens(["王庄村", None, "李 村", ["东", "西"]])
    w = char_word
    assert tokens.bigrams.split() == [w("王") + w("庄"), w("庄") + w("村"), GAP, GAP,
                                      GAP, GAP, GAP]
    assert tokens.unigrams.split() == [w(c) for c in "王庄村李东西"]


def test_normalize_folds_width_and_case() -> None:
    assert normalize("ＡＢ１２　王") == "ab12 王"
    assert query_terms("  王庄  ＡＢ 王庄 ") == ["王庄", "ab"]


def test_query_phrases() -> None:
    w = char_word
    assert query_phrases("王") == [[w("王")]]
    assert query_phrases("王庄村 津") == [[w("王") + w("庄"), w("庄") + w("村")], [w("津")]]
    assert query_phrases("") == []


def test_phrase_occurs_exactly_when_substring() -> None:
    fields = ["张*丰", "王庄村", "城关镇"]
    stream = " " + index_tokens(fields).bigrams + " "
    for term in ["庄村", "王庄村", "*丰", "城关镇"]:
        assert " " + " ".join(query_phrases(term)[0]) + " " in stream
    for term in ["丰王", "村城", "王村"]:  # across a field boundary, or not contiguous
        assert " " + " ".join(query_phrases(term)[0]) + " " not in stream


def test_highlight() -> None:
    assert highlight("王庄村王家", "王") == [("王", True), ("庄村", False), ("王", True),
                                          ("家", False)]
    assert highlight("王庄村", "庄村 王庄") == [("王庄村", True)]
    assert highlight("ＡＢ补贴", ["ab"]) == [("ＡＢ", True), ("补贴", False)]
    assert highlight("高龄津贴", "") == [("高龄津贴", False)]
    assert highlight("", "王") == []
    text = "鲁山县高龄津贴发放"
    assert "".join(s for s, _ in highlight(text, "高龄 发放")) == text
