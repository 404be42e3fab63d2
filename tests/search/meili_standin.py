"""A Meilisearch stand-in for tests: a real HTTP server on 127.0.0.1 that answers the part of
Meilisearch's API the adapter (``meilisearch`` client 0.43) uses, the way Meilisearch does.

Written from Meilisearch's documentation and source (v1.12+), not from the adapter:

* **API key**: every route but ``GET /health`` needs ``Authorization: Bearer <master key>``;
  no header → 401 ``missing_authorization_header``, another key → 403 ``invalid_api_key``.
* **Tasks** run asynchronously on a worker thread, one at a time in uid order: the write
  answers 202 with a summarised task (``enqueued``), the task goes ``processing`` and ends
  ``succeeded`` or ``failed`` with Meilisearch's error object (``index_already_exists``,
  ``index_not_found``, ``invalid_document_id``, ``missing_document_id``, …).  ``GET /tasks/{uid}``
  and ``GET /tasks`` (uids, statuses, types, indexUids, limit, from, reverse).  Request
  validation errors (unknown settings key, bad value, bad index uid) answer 400 at once, as
  Meilisearch's deserialisation does.
* **Indexes**: create, get, list (``offset``/``limit``, sorted by uid), update the primary key,
  delete, swap (``rename`` too), per-index and global stats.  Settings update and document
  addition create a missing index, as Meilisearch does.
* **Settings**: every index setting with Meilisearch's defaults; PATCH merges (nested objects
  too), ``null`` resets; unknown keys answer ``bad_request`` and bad values the setting's
  ``invalid_settings_*`` code.  ``facetSearch`` and ``prefixSearch`` exist from 1.12 on: a
  stand-in started with an older ``version`` refuses them as unknown fields.
* **Documents**: add or replace (POST), update (PUT), get one, list, delete by ids, delete all;
  primary key inference and document id validation at processing time.
* **Search** (POST ``/indexes/{uid}/search``):

  - text: each searchable attribute is cut into words (runs of letters/digits, lower-cased,
    each run of CJK one word — Meilisearch's jieba segmentation is *not* reproduced: the
    adapter never sends Chinese); positions follow charabia (soft separator +1, hard separator
    ``. ; ! ?`` and array elements +8).  Word-pair proximities are stored like milli's indexer:
    forward pairs only, within one attribute, closer than 8, the smallest per pair and document.
  - query: words, ``"phrases"``, ``-negative`` words and phrases, at most 10 terms (a phrase is
    one term).  A phrase is resolved like milli's ``compute_phrase_docids``: in every window of
    three consecutive phrase words each pair must occur at most its distance apart in the
    document -- *anywhere* in the document, so long phrases have false positives (issue 18).
    ``proximityPrecision: byAttribute`` only asks that both words share an attribute.  A word
    matches itself, words it is a prefix of (last word, ``prefixSearch: indexingTime``) and
    words within its typo budget (``typoTolerance``; Levenshtein distance, a first-letter typo
    counts twice).
  - ``matchingStrategy`` ``last`` (default), ``all``, ``frequency``.
  - ``filter`` (string or nested arrays): ``=  !=  >  >=  <  <=  TO  IN  NOT IN  EXISTS
    NOT EXISTS  IS [NOT] NULL  IS [NOT] EMPTY  STARTS WITH  NOT  AND  OR  ( )``; strings compare
    case-insensitively, a value that reads as a number also matches numbers; attributes must be
    filterable (``invalid_search_filter``).
  - ``facets`` → ``facetDistribution`` over the whole hit set (grouped case-insensitively, keys
    shown as first indexed, ``maxValuesPerFacet``, ``sortFacetValuesBy``) and ``facetStats``.
  - order: ranking rules in order -- ``words``, ``sort`` (numbers before strings, then documents
    without the attribute; a list sorts by its smallest value ascending, largest descending;
    strings lower-cased) and custom ``attr:asc|desc``; ``typo``, ``proximity``, ``attribute``
    and ``exactness`` are treated as ties; last tie-break the internal document id (order of
    first insertion).  ``sort`` needs the ``sort`` rule and sortable attributes.
  - ``offset``/``limit`` (``estimatedTotalHits``) or ``page``/``hitsPerPage`` (``totalHits``,
    ``totalPages``), both capped by ``pagination.maxTotalHits``; ``attributesToRetrieve`` and
    ``displayedAttributes``.

  Not reproduced, answered with 501 ``not_implemented_in_standin``: ``distinct``,
  ``attributesToSearchOn``, vector/hybrid search, ``CONTAINS``, geo filters.  Highlighting and
  cropping parameters are accepted and ignored.

Test helpers (not Meilisearch API): :attr:`MeiliStandIn.requests` (every request: method, path,
JSON body), :meth:`MeiliStandIn.hold_tasks` (tasks stay enqueued until the block ends) and
:meth:`MeiliStandIn.overloaded` (searches answer 503 ``too_many_search_requests`` as Meilisearch
does when its search queue is full).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ApiError", "MeiliStandIn"]

MAX_DISTANCE = 8  # milli: proximities are stored when closer than this
MAX_QUERY_TERMS = 10  # milli: Search::words_limit
HARD_SEPARATORS = frozenset(".;!?。；！？\n")
_INDEX_UID = re.compile(r"^[A-Za-z0-9_-]{1,400}$")
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
_RANKING_RULES = ("words", "typo", "proximity", "attribute", "sort", "exactness")
_CUSTOM_RULE = re.compile(r"^(.+):(asc|desc)$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


class ApiError(Exception):
    """An error answered the way Meilisearch answers it (status + error object)."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind

    def body(self) -> dict[str, str]:
        return {"message": self.message, "code": self.code, "type": self.kind,
                "link": f"https://docs.meilisearch.com/errors#{self.code}"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = (int(p) for p in version.split(".")[:2])
    return major, minor


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a positive integer" if isinstance(value, int) and value >= 0 else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad_type(code: str, path: str, expected: str, value: Any) -> ApiError:
    return ApiError(400, code, f"Invalid value type at `{path}`: expected {expected}, but found "
                               f"{_json_type(value)}: `{json.dumps(value, ensure_ascii=False)}`")


def _unknown_field(code: str, name: str, known: list[str], inside: str = "") -> ApiError:
    where = f" inside `{inside}`" if inside else ""
    return ApiError(400, code, f"Unknown field `{name}`{where}: expected one of "
                               + ", ".join(f"`{k}`" for k in known))


# -- settings ------------------------------------------------------------------------------------

_SINCE = {"facetSearch": (1, 12), "prefixSearch": (1, 12)}


def default_settings(version: str) -> dict[str, Any]:
    """An index's settings as ``GET /indexes/{uid}/settings`` shows them after creation."""
    settings: dict[str, Any] = {
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": list(_RANKING_RULES[:4]) + ["sort", "exactness"],
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": None,
        "proximityPrecision": "byWord",
        "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
                          "disableOnWords": [], "disableOnAttributes": [],
                          "disableOnNumbers": False},
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "embedders": {},
        "searchCutoffMs": None,
        "localizedAttributes": None,
        "facetSearch": True,
        "prefixSearch": "indexingTime",
    }
    have = _version_tuple(version)
    return {k: v for k, v in settings.items() if have >= _SINCE.get(k, (0, 0))}


def _string_list(code: str, path: str, value: Any, *, sort: bool) -> list[str]:
    if not isinstance(value, list):
        raise _bad_type(code, path, "an array", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad_type(code, f"{path}[{i}]", "a string", item)
    return sorted(set(value)) if sort else list(value)


def _check_object(code: str, path: str, value: Any, known: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_type(code, path, "an object", value)
    for key in value:
        if key not in known:
            raise _unknown_field(code, key, known, path)
    return value


def _positive_int(code: str, path: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad_type(code, path, "a positive integer", value)
    return value


def _validate_setting(name: str, value: Any, current: Any, default: Any) -> Any:
    """The stored value for ``name`` after ``PATCH {name: value}`` (``None`` resets)."""
    code = "invalid_settings_" + re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
    path = f".{name}"
    if value is None:
        return json.loads(json.dumps(default))
    if name in ("displayedAttributes", "searchableAttributes"):
        return _string_list(code, path, value, sort=False)
    if name == "filterableAttributes":
        if not isinstance(value, list):
            raise _bad_type(code, path, "an array", value)
        for i, rule in enumerate(value):
            if isinstance(rule, dict):
                _check_object(code, f"{path}[{i}]", rule, ["attributePatterns", "features"])
                _string_list(code, f"{path}[{i}].attributePatterns",
                             rule.get("attributePatterns"), sort=False)
            elif not isinstance(rule, str):
                raise _bad_type(code, f"{path}[{i}]", "a string or an object", rule)
        if all(isinstance(rule, str) for rule in value):
            return sorted(set(value))
        return list(value)
    if name in ("sortableAttributes", "stopWords", "nonSeparatorTokens", "separatorTokens",
                "dictionary"):
        return _string_list(code, path, value, sort=True)
    if name == "rankingRules":
        rules = _string_list(code, path, value, sort=False)
        for i, rule in enumerate(rules):
            if rule not in _RANKING_RULES and not _CUSTOM_RULE.match(rule):
                raise ApiError(400, code, f"Invalid value at `{path}[{i}]`: `{rule}` ranking rule "
                                          "is invalid. Valid ranking rules are words, typo, sort, "
                                          "proximity, attribute, exactness and custom ranking "
                                          "rules.")
        return rules
    if name == "synonyms":
        _check_object(code, path, value, list(value) if isinstance(value, dict) else [])
        return {k: _string_list(code, f"{path}.{k}", v, sort=False) for k, v in value.items()}
    if name == "distinctAttribute":
        if not isinstance(value, str):
            raise _bad_type(code, path, "a string", value)
        return value
    if name == "proximityPrecision":
        if value not in ("byWord", "byAttribute"):
            raise ApiError(400, code, f"Unknown value `{value}` at `{path}`: expected one of "
                                      "`byWord`, `byAttribute`")
        return value
    if name == "prefixSearch":
        if value not in ("indexingTime", "disabled"):
            raise ApiError(400, code, f"Unknown value `{value}` at `{path}`: expected one of "
                                      "`indexingTime`, `disabled`")
        return value
    if name == "facetSearch":
        if not isinstance(value, bool):
            raise _bad_type(code, path, "a boolean", value)
        return value
    if name == "typoTolerance":
        known = ["enabled", "minWordSizeForTypos", "disableOnWords", "disableOnAttributes",
                 "disableOnNumbers"]
        _check_object(code, path, value, known)
        out = dict(current)
        for key, sub in value.items():
            if sub is None:
                out[key] = json.loads(json.dumps(default[key]))
            elif key in ("enabled", "disableOnNumbers"):
                if not isinstance(sub, bool):
                    raise _bad_type(code, f"{path}.{key}", "a boolean", sub)
                out[key] = sub
            elif key == "minWordSizeForTypos":
                _check_object(code, f"{path}.{key}", sub, ["oneTypo", "twoTypos"])
                sizes = dict(current[key])
                for k, v in sub.items():
                    sizes[k] = default[key][k] if v is None else _positive_int(
                        code, f"{path}.{key}.{k}", v)
                if sizes["oneTypo"] > sizes["twoTypos"]:
                    raise ApiError(400, code, "`minWordSizeForTypos` setting is invalid. "
                                              "`oneTypo` and `twoTypos` fields should be between "
                                              "`0` and `255`, and `twoTypos` should be greater or "
                                              "equals to `oneTypo`")
                out[key] = sizes
            else:
                out[key] = _string_list(code, f"{path}.{key}", sub, sort=True)
        return out
    if name == "faceting":
        _check_object(code, path, value, ["maxValuesPerFacet", "sortFacetValuesBy"])
        out = dict(current)
        for key, sub in value.items():
            if sub is None:
                out[key] = json.loads(json.dumps(default[key]))
            elif key == "maxValuesPerFacet":
                out[key] = _positive_int(code + "_max_values_per_facet", f"{path}.{key}", sub)
            else:
                sort_code = code + "_sort_facet_values_by"
                _check_object(sort_code, f"{path}.{key}", sub,
                              list(sub) if isinstance(sub, dict) else [])
                for attr, order in sub.items():
                    if order not in ("alpha", "count"):
                        raise ApiError(400, sort_code,
                                       f"Unknown value `{order}` at `{path}.{key}.{attr}`: "
                                       "expected one of `alpha`, `count`")
                out[key] = {"*": "alpha", **sub}
        return out
    if name == "pagination":
        _check_object(code, path, value, ["maxTotalHits"])
        out = dict(current)
        for key, sub in value.items():
            out[key] = default[key] if sub is None else _positive_int(
                code, f"{path}.{key}", sub, minimum=1)
        return out
    if name == "embedders":
        if not isinstance(value, dict):
            raise _bad_type(code, path, "an object", value)
        if value:
            raise ApiError(501, "not_implemented_in_standin", "embedders are not reproduced")
        return {}
    if name == "searchCutoffMs":
        return _positive_int(code, path, value)
    if name == "localizedAttributes":
        if not isinstance(value, list):
            raise _bad_type(code, path, "an array", value)
        return value
    raise AssertionError(name)


# -- tokenizer -----------------------------------------------------------------------------------

_PIECES = re.compile(r"[^\W_]+|[\W_]+")


def _words(text: str) -> Iterator[str | None]:
    """Words of ``text`` in order; ``None`` stands for a hard separator between them."""
    for piece in _PIECES.findall(text.lower()):
        if piece[0].isalnum():
            yield from _split_cjk(piece)
        elif HARD_SEPARATORS.intersection(piece):
            yield None


def _split_cjk(run: str) -> Iterator[str]:
    """A run of letters/digits: each run of CJK characters one word, the rest another."""
    start = 0
    for m in re.finditer(rf"{_CJK.pattern}+", run):
        if m.start() > start:
            yield run[start:m.start()]
        yield m.group()
        start = m.end()
    if start < len(run):
        yield run[start:]


def _texts(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, dict):
        return
    if isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, (int, float)):
        yield _number_text(value)
    else:
        yield str(value)


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def attribute_tokens(value: Any, stop_words: set[str]) -> list[tuple[str, int]]:
    """(word, position) of one attribute, positions as charabia/milli give them."""
    out: list[tuple[str, int]] = []
    position = -1
    gap = 1
    for text in _texts(value):
        for word in _words(text):
            if word is None:
                gap = MAX_DISTANCE
                continue
            position = 0 if position < 0 else position + gap
            gap = 1
            if word not in stop_words:
                out.append((word, position))
        gap = MAX_DISTANCE  # the next array element
    return out


# -- filters -------------------------------------------------------------------------------------

_FILTER_TOKEN = re.compile(r"""\s*(?:(?P<punct>[()\[\],])|(?P<op>!=|>=|<=|=|>|<)|"""
                           r"""(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|"""
                           r"""(?P<word>[^\s()\[\],=!<>"']+))""")
_KEYWORDS = {"AND", "OR", "NOT", "TO", "IN", "EXISTS", "IS", "NULL", "EMPTY", "STARTS", "WITH",
             "CONTAINS"}


class _FilterParser:
    """Recursive descent over Meilisearch's filter grammar; builds a predicate tree."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, value, offset)
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _FILTER_TOKEN.match(text, pos)
            if not m:
                self.fail(f"unexpected character at `{text[pos:]}`", pos)
            kind = m.lastgroup or "word"
            raw, offset = m.group(kind), m.start(kind)
            if kind == "quoted":
                value = re.sub(r"\\(.)", r"\1", raw[1:-1])
            else:
                value = raw
            if kind == "word" and raw in _KEYWORDS:
                kind = "keyword"
            self.tokens.append((kind, value, offset))
            pos = m.end()
        self.i = 0

    def fail(self, message: str, offset: int | None = None) -> None:
        col = (offset if offset is not None else len(self.text)) + 1
        raise ApiError(400, "invalid_search_filter", f"{message}.\n1:{col} {self.text}")

    def peek(self, k: int = 0) -> tuple[str, str, int] | None:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            self.fail("Was expecting a value but instead got nothing")
        self.i += 1
        return tok  # type: ignore[return-value]

    def accept(self, kind: str, value: str | None = None) -> bool:
        tok = self.peek()
        if tok and tok[0] == kind and (value is None or tok[1] == value):
            self.i += 1
            return True
        return False

    def parse(self) -> tuple:
        if not self.tokens:
            return ("all",)
        tree = self.or_()
        if self.peek() is not None:
            self.fail(f"Found unexpected characters at the end of the filter: "
                      f"`{self.text[self.peek()[2]:]}`", self.peek()[2])  # type: ignore[index]
        return tree

    def or_(self) -> tuple:
        parts = [self.and_()]
        while self.accept("keyword", "OR"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_(self) -> tuple:
        parts = [self.not_()]
        while self.accept("keyword", "AND"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_(self) -> tuple:
        if self.accept("keyword", "NOT"):
            return ("not", self.not_())
        if self.accept("punct", "("):
            inner = self.or_()
            if not self.accept("punct", ")"):
                self.fail("Expression `(` is missing a closing `)`")
            return inner
        return self.condition()

    def value(self) -> str:
        kind, value, offset = self.take()
        if kind not in ("word", "quoted"):
            self.fail(f"Was expecting a value but instead got `{value}`", offset)
        return value

    def condition(self) -> tuple:
        kind, attr, offset = self.take()
        if kind not in ("word", "quoted"):
            self.fail(f"Was expecting a value but instead got `{attr}`", offset)
        if attr.startswith("_geo"):
            raise ApiError(501, "not_implemented_in_standin", "geo filters are not reproduced")
        tok = self.peek()
        if tok is None:
            self.fail("Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, "
                      "`NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, "
                      "`IS EMPTY`, `IS NOT EMPTY`, `STARTS WITH`")
        kind, value, offset = tok  # type: ignore[misc]
        if kind == "op":
            self.i += 1
            return ("cmp", attr, value, self.value())
        if kind == "keyword" and value == "EXISTS":
            self.i += 1
            return ("exists", attr)
        if kind == "keyword" and value == "IN":
            self.i += 1
            return ("in", attr, self.array())
        if kind == "keyword" and value == "IS":
            self.i += 1
            negate = self.accept("keyword", "NOT")
            what = self.take()
            if what[1] not in ("NULL", "EMPTY"):
                self.fail("Was expecting `NULL` or `EMPTY`", what[2])
            cond = ("null" if what[1] == "NULL" else "empty", attr)
            return ("not", cond) if negate else cond
        if kind == "keyword" and value == "STARTS":
            self.i += 1
            if not self.accept("keyword", "WITH"):
                self.fail("Was expecting `WITH`", offset)
            return ("starts", attr, self.value())
        if kind == "keyword" and value == "CONTAINS":
            raise ApiError(400, "feature_not_enabled", "Using `CONTAINS` in a filter requires "
                                                       "enabling the `contains filter` "
                                                       "experimental feature.")
        if kind == "keyword" and value == "NOT":
            nxt = self.peek(1)
            self.i += 1
            if nxt and nxt[1] == "IN":
                self.i += 1
                return ("not", ("in", attr, self.array()))
            if nxt and nxt[1] == "EXISTS":
                self.i += 1
                return ("not", ("exists", attr))
            if nxt and nxt[1] == "STARTS":
                self.i += 1
                if not self.accept("keyword", "WITH"):
                    self.fail("Was expecting `WITH`", offset)
                return ("not", ("starts", attr, self.value()))
            self.fail("Was expecting `IN`, `EXISTS` or `STARTS WITH` after `NOT`", offset)
        if kind in ("word", "quoted"):  # attr low TO high
            low = self.value()
            if not self.accept("keyword", "TO"):
                self.fail("Was expecting an operation", offset)
            return ("range", attr, low, self.value())
        self.fail(f"Was expecting an operation but instead got `{value}`", offset)
        raise AssertionError

    def array(self) -> list[str]:
        if not self.accept("punct", "["):
            self.fail("Expected `[` after `IN` keyword")
        values: list[str] = []
        while not self.accept("punct", "]"):
            values.append(self.value())
            if not self.accept("punct", ","):
                if not self.accept("punct", "]"):
                    self.fail("Expected matching `]` after the list")
                break
        return values


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _facet_string(value: str) -> str:
    return value.strip().lower()


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_scalars(item))
        return out
    return [] if value is None or isinstance(value, dict) else [value]


def _lookup(doc: dict[str, Any], attr: str) -> tuple[bool, Any]:
    if attr in doc:
        return True, doc[attr]
    node: Any = doc
    for part in attr.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _equals(element: Any, wanted: str) -> bool:
    if isinstance(element, bool):
        return _facet_string(wanted) == ("true" if element else "false")
    if isinstance(element, (int, float)):
        number = _as_number(wanted)
        return number is not None and float(element) == number
    return isinstance(element, str) and _facet_string(element) == _facet_string(wanted)


def _compare(element: Any, op: str, wanted: str) -> bool:
    number = _as_number(wanted)
    if isinstance(element, (int, float)) and not isinstance(element, bool):
        if number is None:
            return False
        a, b = float(element), number
    elif isinstance(element, str) and number is None:
        a, b = _facet_string(element), _facet_string(wanted)  # type: ignore[assignment]
    else:
        return False
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _evaluate(tree: tuple, doc: dict[str, Any]) -> bool:
    kind = tree[0]
    if kind == "all":
        return True
    if kind == "and":
        return all(_evaluate(t, doc) for t in tree[1])
    if kind == "or":
        return any(_evaluate(t, doc) for t in tree[1])
    if kind == "not":
        return not _evaluate(tree[1], doc)
    present, value = _lookup(doc, tree[1])
    if kind == "exists":
        return present
    if kind == "null":
        return present and value is None
    if kind == "empty":
        return present and value in ("", [], {})
    elements = _scalars(value)
    if kind == "cmp":
        op, wanted = tree[2], tree[3]
        if op == "=":
            return any(_equals(e, wanted) for e in elements)
        if op == "!=":
            return not any(_equals(e, wanted) for e in elements)
        return any(_compare(e, op, wanted) for e in elements)
    if kind == "in":
        return any(_equals(e, w) for e in elements for w in tree[2])
    if kind == "range":
        return any(_compare(e, ">=", tree[2]) and _compare(e, "<=", tree[3]) for e in elements)
    if kind == "starts":
        prefix = _facet_string(tree[2])
        return any(isinstance(e, str) and _facet_string(e).startswith(prefix) for e in elements)
    raise AssertionError(kind)


def _filter_attributes(tree: tuple) -> Iterator[str]:
    if tree[0] in ("and", "or"):
        for t in tree[1]:
            yield from _filter_attributes(t)
    elif tree[0] == "not":
        yield from _filter_attributes(tree[1])
    elif tree[0] != "all":
        yield tree[1]


# -- one index -----------------------------------------------------------------------------------


class _Desc:
    """Reverses the order of a sort key component."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.key == other.key


class _TextIndex:
    """Word → documents, word pair → smallest forward proximity per document (milli's DBs)."""

    def __init__(self, index: _Index) -> None:
        settings = index.settings
        stop_words = set(settings["stopWords"])
        searchable = settings["searchableAttributes"]
        self.word_docids: dict[str, set[int]] = {}
        self.word_fids: dict[str, dict[int, set[int]]] = {}
        self.pairs: dict[tuple[str, str], dict[int, int]] = {}
        for iid, doc in index.by_internal():
            names = index.field_order if searchable == ["*"] else searchable
            for fid, name in enumerate(names):
                present, value = _lookup(doc, name)
                if not present:
                    continue
                tokens = attribute_tokens(value, stop_words)
                for i, (word, pos) in enumerate(tokens):
                    self.word_docids.setdefault(word, set()).add(iid)
                    self.word_fids.setdefault(word, {}).setdefault(iid, set()).add(fid)
                    for later, later_pos in tokens[i + 1:]:
                        distance = later_pos - pos
                        if distance >= MAX_DISTANCE:
                            break
                        if distance > 0:
                            per_doc = self.pairs.setdefault((word, later), {})
                            if per_doc.get(iid, MAX_DISTANCE) > distance:
                                per_doc[iid] = distance
        self.vocabulary = sorted(self.word_docids)


class _Index:
    def __init__(self, uid: str, primary_key: str | None, version: str) -> None:
        self.uid = uid
        self.primary_key = primary_key
        self.created_at = self.updated_at = _now()
        self.version = version
        self.settings = default_settings(version)
        self.docs: dict[str, dict[str, Any]] = {}  # external id → document
        self.internal: dict[str, int] = {}  # external id → internal id (first insertion)
        self.field_order: list[str] = []
        self._next_internal = 0
        self._text: _TextIndex | None = None

    def info(self) -> dict[str, Any]:
        return {"uid": self.uid, "createdAt": self.created_at, "updatedAt": self.updated_at,
                "primaryKey": self.primary_key}

    def changed(self) -> None:
        self.updated_at = _now()
        self._text = None

    def text(self) -> _TextIndex:
        if self._text is None:
            self._text = _TextIndex(self)
        return self._text

    def by_internal(self) -> list[tuple[int, dict[str, Any]]]:
        return sorted(((self.internal[k], d) for k, d in self.docs.items()), key=lambda x: x[0])

    def put(self, external: str, doc: dict[str, Any]) -> None:
        if external not in self.internal:
            self.internal[external] = self._next_internal
            self._next_internal += 1
        self.docs[external] = doc
        for name in doc:
            if name not in self.field_order:
                self.field_order.append(name)

    def remove(self, external: str) -> bool:
        self.internal.pop(external, None)
        return self.docs.pop(external, None) is not None

    def stats(self, indexing: bool) -> dict[str, Any]:
        sizes = [len(json.dumps(d, ensure_ascii=False).encode()) for d in self.docs.values()]
        distribution: dict[str, int] = {}
        for doc in self.docs.values():
            for name in doc:
                distribution[name] = distribution.get(name, 0) + 1
        return {"numberOfDocuments": len(self.docs), "rawDocumentDbSize": sum(sizes),
                "avgDocumentSize": sum(sizes) // len(sizes) if sizes else 0,
                "isIndexing": indexing, "numberOfEmbeddings": 0, "numberOfEmbeddedDocuments": 0,
                "fieldDistribution": dict(sorted(distribution.items()))}


def _levenshtein(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


# -- the server ----------------------------------------------------------------------------------

_SEARCH_PARAMS = ["q", "offset", "limit", "page", "hitsPerPage", "attributesToRetrieve",
                  "retrieveVectors", "attributesToCrop", "cropLength", "cropMarker",
                  "attributesToHighlight", "highlightPreTag", "highlightPostTag",
                  "showMatchesPosition", "showRankingScore", "showRankingScoreDetails",
                  "showPerformanceDetails", "filter", "sort", "distinct", "facets",
                  "matchingStrategy", "attributesToSearchOn", "rankingScoreThreshold",
                  "locales", "hybrid", "vector", "media"]


class MeiliStandIn:
    """The stand-in server.  Use as a context manager, or call :meth:`close`."""

    def __init__(self, master_key: str | None = "masterKey", version: str = "1.15.2") -> None:
        self.master_key = master_key
        self.version = version
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.RLock()
        self._work = threading.Condition(self._lock)
        self._indexes: dict[str, _Index] = {}
        self._tasks: list[dict[str, Any]] = []
        self._queue: deque[tuple[dict[str, Any], Any]] = deque()
        self._held = False
        self._overloaded = False
        self._closing = False
        self._last_update: str | None = None
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Meilisearch (actix) offers
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer = standin.handle(self.command, self.path, raw,
                                                self.headers.get("Authorization"))
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                             name="meili-standin-http"),
            threading.Thread(target=self._run_tasks, daemon=True, name="meili-standin-tasks"),
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> MeiliStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._work:
            self._closing = True
            self._work.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- test helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold_tasks(self) -> Iterator[None]:
        """Tasks enqueued inside the block stay ``enqueued`` until it ends."""
        with self._work:
            self._held = True
        try:
            yield
        finally:
            with self._work:
                self._held = False
                self._work.notify_all()

    @contextlib.contextmanager
    def overloaded(self) -> Iterator[None]:
        """Searches answer 503 ``too_many_search_requests`` inside the block."""
        self._overloaded = True
        try:
            yield
        finally:
            self._overloaded = False

    def task_statuses(self) -> list[str]:
        with self._lock:
            return [t["status"] for t in self._tasks]

    # -- tasks ----------------------------------------------------------------------------------

    def _enqueue(self, kind: str, index_uid: str | None, details: dict[str, Any],
                 operation: Any) -> tuple[int, dict[str, Any]]:
        with self._work:
            task = {"uid": len(self._tasks), "batchUid": None, "indexUid": index_uid,
                    "status": "enqueued", "type": kind, "canceledBy": None, "details": details,
                    "error": None, "duration": None, "enqueuedAt": _now(), "startedAt": None,
                    "finishedAt": None}
            self._tasks.append(task)
            self._queue.append((task, operation))
            self._work.notify_all()
            return 202, {"taskUid": task["uid"], "indexUid": index_uid, "status": "enqueued",
                         "type": kind, "enqueuedAt": task["enqueuedAt"]}

    def _run_tasks(self) -> None:
        while True:
            with self._work:
                while (self._held or not self._queue) and not self._closing:
                    self._work.wait()
                if self._closing:
                    return
                task, operation = self._queue.popleft()
                task["status"] = "processing"
                task["batchUid"] = task["uid"]
                task["startedAt"] = _now()
                started = time.perf_counter()
                try:
                    operation(task)
                    task["status"] = "succeeded"
                except ApiError as exc:
                    task["status"] = "failed"
                    task["error"] = exc.body()
                task["duration"] = f"PT{time.perf_counter() - started:.6f}S"
                task["finishedAt"] = self._last_update = _now()

    def _indexing(self, uid: str) -> bool:
        return any(t["indexUid"] == uid and t["status"] in ("enqueued", "processing")
                   for t in self._tasks)

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, raw: bytes, auth: str | None
               ) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            self.requests.append((method, target, raw.decode(errors="replace")))
            return 400, ApiError(400, "malformed_payload",
                                 f"The json payload provided is malformed. `{exc}`.").body()
        self.requests.append((method, target, body))
        try:
            if not (method == "GET" and path == "/health"):
                self._check_key(auth)
            with self._lock:
                return self._route(method, path, query, body, raw)
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception:  # a stand-in bug: say so instead of dropping the connection
            return 500, ApiError(500, "internal", traceback.format_exc(), "internal").body()

    def _check_key(self, auth: str | None) -> None:
        if self.master_key is None:
            return
        if not auth or not auth.startswith("Bearer "):
            raise ApiError(401, "missing_authorization_header",
                           "The Authorization header is missing. It must use the bearer "
                           "authorization method.", "auth")
        if auth[len("Bearer "):] != self.master_key:
            raise ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, raw: bytes
               ) -> tuple[int, Any]:
        p = path.strip("/").split("/")
        if path == "/health" and method == "GET":
            return 200, {"status": "available"}
        if path == "/version" and method == "GET":
            return 200, {"commitSha": "0" * 40, "commitDate": "2025-01-01T00:00:00Z",
                         "pkgVersion": self.version}
        if path == "/stats" and method == "GET":
            return 200, self._global_stats()
        if p[0] == "tasks":
            if len(p) == 1 and method == "GET":
                return 200, self._list_tasks(query)
            if len(p) == 2 and method == "GET":
                return self._get_task(p[1])
        if path == "/swap-indexes" and method == "POST":
            return self._swap(body)
        if p[0] == "indexes":
            if len(p) == 1:
                if method == "GET":
                    return 200, self._list_indexes(query)
                if method == "POST":
                    return self._create_index(body)
            else:
                uid = p[1]
                rest = p[2:]
                if not rest:
                    if method == "GET":
                        return 200, self._index(uid).info()
                    if method == "DELETE":
                        return self._delete_index(uid)
                    if method == "PATCH":
                        return self._update_index(uid, body)
                elif rest[0] == "settings":
                    return self._settings(method, uid, rest[1:], body)
                elif rest[0] == "documents":
                    return self._documents(method, uid, rest[1:], query, body, raw)
                elif rest == ["search"] and method == "POST":
                    if self._overloaded:
                        raise ApiError(503, "too_many_search_requests",
                                       "Too many search requests running at the same time: 1. "
                                       "Retry after 10s.", "system")
                    return 200, self._search(self._index(uid), body or {})
                elif rest == ["stats"] and method == "GET":
                    return 200, self._index(uid).stats(self._indexing(uid))
        raise ApiError(404, "not_found", "Not Found")

    # -- indexes --------------------------------------------------------------------------------

    def _index(self, uid: str) -> _Index:
        index = self._indexes.get(uid)
        if index is None:
            raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
        return index

    @staticmethod
    def _check_uid(uid: Any) -> str:
        if isinstance(uid, int) and not isinstance(uid, bool):
            uid = str(uid)
        if not isinstance(uid, str) or not _INDEX_UID.match(uid):
            raise ApiError(400, "invalid_index_uid",
                           f"`{uid}` is not a valid index uid. Index uid can be an integer or a "
                           "string containing only alphanumeric characters, hyphens (-) and "
                           "underscores (_), and can not be more than 512 bytes.")
        return uid

    def _list_indexes(self, query: dict[str, str]) -> dict[str, Any]:
        offset = self._query_int(query, "offset", 0, "invalid_index_offset")
        limit = self._query_int(query, "limit", 20, "invalid_index_limit")
        uids = sorted(self._indexes)
        return {"results": [self._indexes[u].info() for u in uids[offset:offset + limit]],
                "offset": offset, "limit": limit, "total": len(uids)}

    @staticmethod
    def _query_int(query: dict[str, str], name: str, default: int, code: str) -> int:
        if name not in query:
            return default
        text = query[name]
        if not text.isdigit():
            raise ApiError(400, code, f"Invalid value in parameter `{name}`: could not parse "
                                      f"`{text}` as a positive integer")
        return int(text)

    def _create_index(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "Invalid value type: expected an object")
        for key in body:
            if key not in ("uid", "primaryKey"):
                raise _unknown_field("bad_request", key, ["uid", "primaryKey"])
        if "uid" not in body:
            raise ApiError(400, "missing_index_uid", "Missing field `uid`")
        uid = self._check_uid(body["uid"])
        primary_key = body.get("primaryKey")
        if primary_key is not None and not isinstance(primary_key, str):
            raise _bad_type("invalid_index_primary_key", ".primaryKey", "a string", primary_key)

        def create(task: dict[str, Any]) -> None:
            if uid in self._indexes:
                raise ApiError(409, "index_already_exists", f"Index `{uid}` already exists.")
            self._indexes[uid] = _Index(uid, primary_key, self.version)

        return self._enqueue("indexCreation", uid, {"primaryKey": primary_key}, create)

    def _update_index(self, uid: str, body: Any) -> tuple[int, Any]:
        self._check_uid(uid)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "Invalid value type: expected an object")
        for key in body:
            if key not in ("primaryKey", "uid"):
                raise _unknown_field("bad_request", key, ["primaryKey", "uid"])
        primary_key = body.get("primaryKey")

        def update(task: dict[str, Any]) -> None:
            index = self._index(uid)
            if primary_key is not None and primary_key != index.primary_key:
                if index.docs:
                    raise ApiError(400, "index_primary_key_already_exists",
                                   f"Index `{uid}`: Index already has a primary key: "
                                   f"`{index.primary_key}`.")
                index.primary_key = primary_key
            index.changed()

        return self._enqueue("indexUpdate", uid, {"primaryKey": primary_key}, update)

    def _delete_index(self, uid: str) -> tuple[int, Any]:
        self._check_uid(uid)

        def delete(task: dict[str, Any]) -> None:
            index = self._index(uid)
            task["details"]["deletedDocuments"] = len(index.docs)
            del self._indexes[uid]

        return self._enqueue("indexDeletion", uid, {"deletedDocuments": None}, delete)

    def _swap(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, list):
            raise _bad_type("bad_request", "", "an array", body)
        swaps, seen = [], set()
        for i, item in enumerate(body):
            if not isinstance(item, dict):
                raise _bad_type("bad_request", f"[{i}]", "an object", item)
            for key in item:
                if key not in ("indexes", "rename"):
                    raise _unknown_field("bad_request", key, ["indexes", "rename"], f"[{i}]")
            pair = item.get("indexes")
            if not isinstance(pair, list) or len(pair) != 2:
                raise ApiError(400, "invalid_swap_indexes",
                               f"Invalid value at `[{i}].indexes`: two indexes must be given "
                               f"for each swap. The list `{pair}` contains "
                               f"{len(pair) if isinstance(pair, list) else 0} indexes.")
            pair = [self._check_uid(u) for u in pair]
            rename = bool(item.get("rename", False))
            for uid in pair:
                if uid in seen:
                    raise ApiError(400, "invalid_swap_duplicate_index_found",
                                   f"Indexes must be declared only once during a swap. `{uid}` "
                                   "was specified several times.")
                seen.add(uid)
            swaps.append({"indexes": pair, "rename": rename})

        def swap(task: dict[str, Any]) -> None:
            missing = sorted({u for s in swaps for u in s["indexes"][: 1 if s["rename"] else 2]
                              if u not in self._indexes})
            if missing:
                names = ", ".join(f"`{u}`" for u in missing)
                raise ApiError(404, "index_not_found",
                               f"Index{'es' if len(missing) > 1 else ''} {names} not found.")
            for s in swaps:
                a, b = s["indexes"]
                if s["rename"]:
                    if b in self._indexes:
                        raise ApiError(409, "index_already_exists", f"Index `{b}` already exists.")
                    self._indexes[b] = self._indexes.pop(a)
                    self._indexes[b].uid = b
                else:
                    self._indexes[a], self._indexes[b] = self._indexes[b], self._indexes[a]
                    self._indexes[a].uid, self._indexes[b].uid = a, b
                    self._indexes[a].changed()
                    self._indexes[b].changed()

        return self._enqueue("indexSwap", None, {"swaps": swaps}, swap)

    def _global_stats(self) -> dict[str, Any]:
        indexes = {uid: ix.stats(self._indexing(uid)) for uid, ix in sorted(self._indexes.items())}
        size = 4096 + sum(s["rawDocumentDbSize"] for s in indexes.values())
        return {"databaseSize": size, "usedDatabaseSize": size, "lastUpdate": self._last_update,
                "indexes": indexes}

    # -- tasks ----------------------------------------------------------------------------------

    def _get_task(self, uid: str) -> tuple[int, Any]:
        if not uid.isdigit():
            raise ApiError(400, "invalid_task_uids", f"Invalid value in parameter `taskUid`: could "
                                                     f"not parse `{uid}` as a positive integer")
        number = int(uid)
        if number >= len(self._tasks):
            raise ApiError(404, "task_not_found", f"Task `{number}` not found.")
        return 200, dict(self._tasks[number])

    def _list_tasks(self, query: dict[str, str]) -> dict[str, Any]:
        def values(name: str) -> set[str] | None:
            text = query.get(name)
            if text is None or text == "*":
                return None
            return {v for v in text.split(",") if v}

        uids, statuses = values("uids"), values("statuses")
        types, index_uids = values("types"), values("indexUids")
        limit = self._query_int(query, "limit", 20, "invalid_task_limit")
        start = self._query_int(query, "from", -1, "invalid_task_from")
        reverse = query.get("reverse") == "true"
        chosen = [t for t in self._tasks
                  if (uids is None or str(t["uid"]) in uids)
                  and (statuses is None or t["status"] in statuses)
                  and (types is None or t["type"] in types)
                  and (index_uids is None or t["indexUid"] in index_uids)]
        ordered = chosen if reverse else chosen[::-1]
        if start >= 0:
            ordered = [t for t in ordered if (t["uid"] >= start if reverse else t["uid"] <= start)]
        page = ordered[:limit]
        return {"results": [dict(t) for t in page], "total": len(chosen), "limit": limit,
                "from": page[0]["uid"] if page else None,
                "next": ordered[limit]["uid"] if len(ordered) > limit else None}

    # -- settings -------------------------------------------------------------------------------

    def _settings(self, method: str, uid: str, rest: list[str], body: Any) -> tuple[int, Any]:
        known = list(default_settings(self.version))
        if rest:  # /settings/{sub-setting}: kebab-case name of one setting
            name = re.sub(r"-([a-z])", lambda m: m.group(1).upper(), rest[0])
            if name not in known:
                raise ApiError(404, "not_found", "Not Found")
            if method == "GET":
                return 200, self._index(uid).settings[name]
            if method in ("PUT", "PATCH"):
                return self._update_settings(uid, {name: body})
            if method == "DELETE":
                return self._update_settings(uid, {name: None})
            raise ApiError(405, "not_found", "Method Not Allowed")
        if method == "GET":
            return 200, json.loads(json.dumps(self._index(uid).settings))
        if method == "PATCH":
            return self._update_settings(uid, body)
        if method == "DELETE":
            return self._update_settings(uid, dict.fromkeys(known))
        raise ApiError(405, "not_found", "Method Not Allowed")

    def _update_settings(self, uid: str, body: Any) -> tuple[int, Any]:
        self._check_uid(uid)
        defaults = default_settings(self.version)
        if not isinstance(body, dict):
            raise _bad_type("bad_request", "", "an object", body)
        for key in body:
            if key not in defaults:
                raise _unknown_field("bad_request", key, list(defaults))
        current = self._indexes[uid].settings if uid in self._indexes else defaults
        new = {key: _validate_setting(key, value, current[key], defaults[key])
               for key, value in body.items()}

        def apply(task: dict[str, Any]) -> None:
            index = self._indexes.get(uid)
            if index is None:
                index = self._indexes[uid] = _Index(uid, None, self.version)
            for key, value in body.items():
                index.settings[key] = _validate_setting(key, value, index.settings[key],
                                                        defaults[key])
            index.changed()

        return self._enqueue("settingsUpdate", uid, new, apply)

    # -- documents ------------------------------------------------------------------------------

    def _documents(self, method: str, uid: str, rest: list[str], query: dict[str, str],
                   body: Any, raw: bytes) -> tuple[int, Any]:
        if not rest:
            if method in ("POST", "PUT"):
                return self._add_documents(uid, body, raw, query.get("primaryKey"),
                                           replace=method == "POST")
            if method == "GET":
                index = self._index(uid)
                offset = self._query_int(query, "offset", 0, "invalid_document_offset")
                limit = self._query_int(query, "limit", 20, "invalid_document_limit")
                fields = query.get("fields")
                docs = [d for _, d in index.by_internal()][offset:offset + limit]
                if fields and fields != "*":
                    wanted = fields.split(",")
                    docs = [{k: v for k, v in d.items() if k in wanted} for d in docs]
                return 200, {"results": docs, "offset": offset, "limit": limit,
                             "total": len(index.docs)}
            if method == "DELETE":
                def clear(task: dict[str, Any]) -> None:
                    index = self._index(uid)
                    task["details"]["deletedDocuments"] = len(index.docs)
                    index.docs.clear()
                    index.internal.clear()
                    index.changed()

                return self._enqueue("documentDeletion", uid,
                                     {"providedIds": 0, "deletedDocuments": None,
                                      "originalFilter": None}, clear)
        elif rest == ["delete-batch"] and method == "POST":
            if not isinstance(body, list):
                raise _bad_type("bad_request", "", "an array", body)
            ids = [str(i) for i in body]
            return self._delete_ids(uid, ids)
        elif len(rest) == 1 and method == "GET":
            index = self._index(uid)
            doc = index.docs.get(rest[0])
            if doc is None:
                raise ApiError(404, "document_not_found", f"Document `{rest[0]}` not found.")
            return 200, doc
        elif len(rest) == 1 and method == "DELETE":
            return self._delete_ids(uid, [rest[0]])
        raise ApiError(404, "not_found", "Not Found")

    def _delete_ids(self, uid: str, ids: list[str]) -> tuple[int, Any]:
        self._check_uid(uid)

        def delete(task: dict[str, Any]) -> None:
            index = self._index(uid)
            task["details"]["deletedDocuments"] = sum(index.remove(i) for i in ids)
            index.changed()

        return self._enqueue("documentDeletion", uid,
                             {"providedIds": len(ids), "deletedDocuments": None,
                              "originalFilter": None}, delete)

    def _add_documents(self, uid: str, body: Any, raw: bytes, primary_key: str | None,
                       replace: bool) -> tuple[int, Any]:
        self._check_uid(uid)
        if body is None:
            raise ApiError(400, "missing_payload", "A json payload is missing.")
        docs = body if isinstance(body, list) else [body]
        if not all(isinstance(d, dict) for d in docs):
            raise ApiError(400, "malformed_payload", "The `json` payload provided is malformed. "
                                                     "`Couldn't serialize document value.`.")

        def add(task: dict[str, Any]) -> None:
            index = self._indexes.get(uid)
            pk = index.primary_key if index is not None else None
            if pk is None:
                pk = primary_key or self._infer_primary_key(docs)
            elif primary_key is not None and primary_key != pk:
                raise ApiError(400, "index_primary_key_already_exists",
                               f"Index `{uid}`: Index already has a primary key: `{pk}`.")
            checked = []
            for doc in docs:
                if doc.get(pk) is None:
                    shown = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                    raise ApiError(400, "missing_document_id",
                                   f"Document doesn't have a `{pk}` attribute: `{shown}`.")
                value = doc[pk]
                valid = (isinstance(value, int) and not isinstance(value, bool)) or (
                    isinstance(value, str) and _DOCUMENT_ID.match(value))
                if not valid:
                    raise ApiError(400, "invalid_document_id",
                                   f"Document identifier `{json.dumps(value, ensure_ascii=False)}`"
                                   " is invalid. A document identifier can be of type integer or "
                                   "string, only composed of alphanumeric characters (a-z A-Z "
                                   "0-9), hyphens (-) and underscores (_), and can not be more "
                                   "than 511 bytes.")
                checked.append((str(value), doc))
            if index is None:
                index = self._indexes[uid] = _Index(uid, pk, self.version)
            index.primary_key = pk
            for external, doc in checked:
                if not replace and external in index.docs:
                    doc = {**index.docs[external], **doc}
                index.put(external, json.loads(json.dumps(doc)))
            task["details"]["indexedDocuments"] = len(checked)
            index.changed()

        kind = "documentAdditionOrUpdate"
        return self._enqueue(kind, uid, {"receivedDocuments": len(docs),
                                         "indexedDocuments": None}, add)

    @staticmethod
    def _infer_primary_key(docs: list[dict[str, Any]]) -> str:
        candidates = sorted({k for d in docs[:1] for k in d if k.lower().endswith("id")})
        if not candidates:
            raise ApiError(400, "index_primary_key_no_candidate_found",
                           "The primary key inference failed as the engine did not find any "
                           "field ending with `id` in its name. Please specify the primary key "
                           "manually using the `primaryKey` query parameter.")
        if len(candidates) > 1:
            raise ApiError(400, "index_primary_key_multiple_candidates_found",
                           "The primary key inference failed as the engine found "
                           f"{len(candidates)} fields ending with `id` in their names: "
                           + " and ".join(f"'{c}'" for c in candidates)
                           + ". Please specify the primary key manually using the `primaryKey` "
                             "query parameter.")
        return candidates[0]

    # -- search ---------------------------------------------------------------------------------

    def _search(self, index: _Index, params: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        if not isinstance(params, dict):
            raise _bad_type("bad_request", "", "an object", params)
        for key in params:
            if key not in _SEARCH_PARAMS:
                raise _unknown_field("bad_request", key, _SEARCH_PARAMS)
        for key in ("distinct", "attributesToSearchOn", "hybrid", "vector", "media"):
            if params.get(key) is not None:
                raise ApiError(501, "not_implemented_in_standin",
                               f"`{key}` is not reproduced by the stand-in")
        settings = index.settings
        q = params.get("q") or ""
        if not isinstance(q, str):
            raise _bad_type("invalid_search_q", ".q", "a string", q)
        strategy = params.get("matchingStrategy", "last")
        if strategy not in ("last", "all", "frequency"):
            raise ApiError(400, "invalid_search_matching_strategy",
                           f"Unknown value `{strategy}` at `.matchingStrategy`: expected one of "
                           "`last`, `all`, `frequency`")
        paged = params.get("page") is not None or params.get("hitsPerPage") is not None
        numbers = {}
        for name, default in (("offset", 0), ("limit", 20), ("page", 1), ("hitsPerPage", 20)):
            value = params.get(name)
            if value is None:
                value = default
            code = "invalid_search_" + re.sub(r"([A-Z])", r"_\1", name).lower()
            numbers[name] = _positive_int(code, f".{name}", value)
        filter_tree = self._parse_filter(index, params.get("filter"))
        sort = self._parse_sort(index, params.get("sort"))
        facets = self._facet_names(index, params.get("facets"))

        universe = [iid for iid, doc in index.by_internal() if _evaluate(filter_tree, doc)]
        docs = {index.internal[k]: d for k, d in index.docs.items()}
        words_rank: dict[int, int] = {}
        terms, negatives = _parse_q(q, set(settings["stopWords"]))
        if terms or negatives:
            text = index.text()
            excluded: set[int] = set()
            for term in negatives:
                excluded |= self._term_docids(index, text, term)
            sets = [self._term_docids(index, text, term) for term in terms]
            if sets:
                order = list(range(len(sets)))
                if strategy == "frequency":  # the most frequent terms are dropped first
                    order.sort(key=lambda i: len(sets[i]))
                if strategy == "all":
                    matched = set.intersection(*sets)
                    words_rank = dict.fromkeys(matched, len(sets))
                else:
                    acc: set[int] | None = None
                    for kept, i in enumerate(order, 1):
                        acc = sets[i] if acc is None else acc & sets[i]
                        for iid in acc:
                            words_rank[iid] = kept
            else:
                words_rank = dict.fromkeys(docs, 0)
            universe = [iid for iid in universe if iid in words_rank and iid not in excluded]

        def rank_key(iid: int) -> tuple:
            key: list[Any] = []
            for rule in settings["rankingRules"]:
                if rule == "words" and terms:
                    key.append(-words_rank[iid])
                elif rule == "sort":
                    key.extend(_sort_value(docs[iid], attr, asc) for attr, asc in sort)
                elif (m := _CUSTOM_RULE.match(rule)) is not None:
                    key.append(_sort_value(docs[iid], m.group(1), m.group(2) == "asc"))
            key.append(iid)
            return tuple(key)

        ranked = sorted(universe, key=rank_key)
        max_total = settings["pagination"]["maxTotalHits"]
        reachable = ranked[:max_total]
        answer: dict[str, Any] = {}
        if paged:
            page, per_page = numbers["page"], numbers["hitsPerPage"]
            start = (page - 1) * per_page if page > 0 else len(reachable)
            chosen = reachable[start:start + per_page] if per_page else []
            total = len(reachable)
            answer.update(hitsPerPage=per_page, page=page,
                          totalPages=math.ceil(total / per_page) if per_page else 0,
                          totalHits=total)
        else:
            offset, limit = numbers["offset"], numbers["limit"]
            chosen = reachable[offset:offset + limit]
            answer.update(limit=limit, offset=offset, estimatedTotalHits=len(reachable))
        answer = {"hits": [self._displayed(index, docs[iid], params.get("attributesToRetrieve"))
                           for iid in chosen], "query": q, **answer}
        if facets is not None:
            answer["facetDistribution"], answer["facetStats"] = self._facet_distribution(
                index, [docs[iid] for iid in universe], facets)
        answer["processingTimeMs"] = int((time.perf_counter() - started) * 1000)
        return answer

    @staticmethod
    def _displayed(index: _Index, doc: dict[str, Any], wanted: Any) -> dict[str, Any]:
        shown = index.settings["displayedAttributes"]
        out = {k: v for k, v in doc.items() if shown == ["*"] or k in shown}
        if wanted is not None and wanted != ["*"]:
            if not isinstance(wanted, list):
                raise _bad_type("invalid_search_attributes_to_retrieve", ".attributesToRetrieve",
                                "an array", wanted)
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    @staticmethod
    def _filterable(index: _Index) -> list[str]:
        patterns = []
        for rule in index.settings["filterableAttributes"]:
            patterns.extend([rule] if isinstance(rule, str) else rule.get("attributePatterns", []))
        return patterns

    def _parse_filter(self, index: _Index, value: Any) -> tuple:
        if value is None:
            return ("all",)
        if isinstance(value, str):
            tree = _FilterParser(value).parse()
        elif isinstance(value, list):
            parts = []
            for item in value:
                if isinstance(item, str):
                    parts.append(_FilterParser(item).parse())
                elif isinstance(item, list) and all(isinstance(s, str) for s in item):
                    parts.append(("or", [_FilterParser(s).parse() for s in item]))
                else:
                    raise ApiError(400, "invalid_search_filter",
                                   "Invalid value type at `.filter`: expected a string or an "
                                   "array of strings or arrays of strings")
            tree = ("and", parts)
        else:
            raise _bad_type("invalid_search_filter", ".filter", "a string or an array", value)
        patterns = self._filterable(index)
        for attr in _filter_attributes(tree):
            if not any(fnmatch.fnmatchcase(attr, p) for p in patterns):
                available = (f"Available filterable attribute patterns are: "
                             f"`{', '.join(sorted(patterns))}`." if patterns else
                             "This index does not have configured filterable attributes.")
                raise ApiError(400, "invalid_search_filter",
                               f"Index `{index.uid}`: Attribute `{attr}` is not filterable. "
                               f"{available}\n1:{len(attr) + 1} {value}")
        return tree

    @staticmethod
    def _parse_sort(index: _Index, value: Any) -> list[tuple[str, bool]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise _bad_type("invalid_search_sort", ".sort", "an array of strings", value)
        if value and "sort" not in index.settings["rankingRules"]:
            raise ApiError(400, "invalid_search_sort",
                           f"Index `{index.uid}`: You must specify where `sort` is listed in the "
                           "rankingRules setting to use the sort parameter at search time.")
        out = []
        sortable = index.settings["sortableAttributes"]
        for item in value:
            m = _CUSTOM_RULE.match(item)
            if not m:
                raise ApiError(400, "invalid_search_sort",
                               "Invalid syntax for the sort parameter: expected expression ending "
                               f"by `:asc` or `:desc`, found `{item}`.")
            if m.group(1) not in sortable:
                listed = ", ".join(sortable)
                raise ApiError(400, "invalid_search_sort",
                               f"Index `{index.uid}`: Attribute `{m.group(1)}` is not sortable. "
                               + (f"Available sortable attributes are: `{listed}`." if sortable
                                  else "This index does not have configured sortable "
                                       "attributes."))
            out.append((m.group(1), m.group(2) == "asc"))
        return out

    def _facet_names(self, index: _Index, value: Any) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise _bad_type("invalid_search_facets", ".facets", "an array of strings", value)
        patterns = self._filterable(index)
        names: list[str] = []
        for name in value:
            if name == "*":
                names.extend(p for p in patterns if "*" not in p)
            elif not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                available = (f"Available filterable attributes patterns are: "
                             f"`{', '.join(sorted(patterns))}`." if patterns else
                             "This index does not have configured filterable attributes.")
                raise ApiError(400, "invalid_search_facets",
                               f"Invalid facet distribution: Pattern `{name}` is not filterable. "
                               f"{available}")
            else:
                names.append(name)
        return list(dict.fromkeys(names))

    @staticmethod
    def _facet_distribution(index: _Index, docs: list[dict[str, Any]], names: list[str]
                            ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        faceting = index.settings["faceting"]
        distribution: dict[str, dict[str, int]] = {}
        stats: dict[str, dict[str, float]] = {}
        for name in names:
            counts: dict[str, list[Any]] = {}  # normalised → [shown, count]
            numbers: list[float] = []
            for doc in docs:
                _, value = _lookup(doc, name)
                seen: set[str] = set()
                for element in _scalars(value):
                    if isinstance(element, bool):
                        shown = "true" if element else "false"
                    elif isinstance(element, (int, float)):
                        numbers.append(float(element))
                        shown = _number_text(element)
                    else:
                        shown = str(element)
                    key = _facet_string(shown)
                    if key in seen:
                        continue
                    seen.add(key)
                    counts.setdefault(key, [shown, 0])[1] += 1
            order = faceting["sortFacetValuesBy"].get(name, faceting["sortFacetValuesBy"]["*"])
            items = sorted(counts.items(), key=(lambda kv: (-kv[1][1], kv[0])) if order == "count"
                           else (lambda kv: kv[0]))
            distribution[name] = {shown: count for _, (shown, count)
                                  in items[:faceting["maxValuesPerFacet"]]}
            if numbers:
                stats[name] = {"min": min(numbers), "max": max(numbers)}
        return distribution, stats

    # -- matching -------------------------------------------------------------------------------

    def _term_docids(self, index: _Index, text: _TextIndex, term: tuple) -> set[int]:
        if term[0] == "phrase":
            return _phrase_docids(index, text, term[1])
        word, is_prefix = term[1], term[2]
        out = set(text.word_docids.get(word, ()))
        if is_prefix and index.settings.get("prefixSearch", "indexingTime") == "indexingTime":
            for candidate in text.vocabulary:
                if candidate.startswith(word):
                    out |= text.word_docids[candidate]
        typo = index.settings["typoTolerance"]
        if typo["enabled"] and word not in typo["disableOnWords"] and not (
                typo.get("disableOnNumbers") and word.isdigit()):
            sizes = typo["minWordSizeForTypos"]
            budget = 2 if len(word) >= sizes["twoTypos"] else 1 if len(word) >= sizes["oneTypo"] \
                else 0
            if budget:
                for candidate in text.vocabulary:
                    cost = _levenshtein(word, candidate, budget)
                    if candidate[:1] != word[:1]:
                        cost += 1
                    if cost <= budget:
                        out |= text.word_docids[candidate]
        return out


def _phrase_docids(index: _Index, text: _TextIndex, words: list[str | None]) -> set[int]:
    """milli's ``compute_phrase_docids``: every pair within each window of 3 words."""
    candidates: set[int] = set()
    for word in words:
        if word is None:
            continue
        docids = text.word_docids.get(word)
        if not docids:
            return set()
        candidates |= docids
    by_attribute = index.settings["proximityPrecision"] == "byAttribute"

    def pair_docids(first: str, second: str, max_proximity: int) -> set[int]:
        if by_attribute:  # only "in the same attribute" is known
            a, b = text.word_fids.get(first, {}), text.word_fids.get(second, {})
            return {iid for iid, fids in a.items() if fids & b.get(iid, set())}
        per_doc = text.pairs.get((first, second), {})
        return {iid for iid, proximity in per_doc.items() if proximity <= max_proximity}

    size = min(len(words), 3)
    for start in range(len(words) - size + 1):
        window = words[start:start + size]
        for offset, first in enumerate(window):
            if first is None:
                continue
            for distance, second in enumerate(window[offset + 1:]):
                if second is None:
                    continue
                docids = pair_docids(first, second, distance + 1)
                if not docids:
                    return set()
                candidates &= docids
    return candidates


def _sort_value(doc: dict[str, Any], attr: str, ascending: bool) -> tuple:
    """Numbers first, then strings (lower-cased), then documents without a value."""
    _, value = _lookup(doc, attr)
    elements = _scalars(value)
    numbers = [float(e) for e in elements if isinstance(e, (int, float))
               and not isinstance(e, bool)]
    strings = [_facet_string(e if isinstance(e, str) else ("true" if e else "false"))
               for e in elements if isinstance(e, (str, bool))]
    if numbers:
        return (0, min(numbers) if ascending else _Desc(max(numbers)))
    if strings:
        return (1, min(strings) if ascending else _Desc(max(strings)))
    return (2, 0)


_QUERY_PIECES = re.compile(r'"|[^\W_]+|[^\w"]+|_+')


def _parse_q(q: str, stop_words: set[str]) -> tuple[list[tuple], list[tuple]]:
    """Terms (``("word", w, is_prefix)`` / ``("phrase", [w | None, …])``) and negated terms,
    as milli's ``located_query_terms_from_tokens`` reads a query (at most 10 terms)."""
    terms: list[tuple] = []
    negatives: list[tuple] = []
    pieces = _QUERY_PIECES.findall(q.lower())
    phrase: list[str | None] | None = None
    negative_phrase = False
    negative_next = False
    after_space = True
    for i, piece in enumerate(pieces):
        if len(terms) >= MAX_QUERY_TERMS:
            return terms, negatives
        last = i == len(pieces) - 1
        if piece == '"':
            if phrase is not None:
                if any(w is not None for w in phrase):
                    (negatives if negative_phrase else terms).append(("phrase", phrase))
                phrase, negative_phrase = None, False
            else:
                phrase, negative_phrase = [], negative_next
            negative_next = False
            after_space = False
            continue
        if piece[0].isalnum():
            for word in _split_cjk(piece):
                if phrase is not None:
                    phrase.append(None if word in stop_words else word)
                elif negative_next:
                    negatives.append(("word", word, False))
                elif word not in stop_words:
                    terms.append(("word", word, last))
            negative_next = False
            after_space = False
            continue
        if phrase is not None and HARD_SEPARATORS.intersection(piece):
            if any(w is not None for w in phrase):
                (negatives if negative_phrase else terms).append(("phrase", phrase))
            phrase = []
        # "-" right after a space (or at the start) negates the next word or phrase
        before = piece[:-1]
        negative_next = (phrase is None and piece.endswith("-") and before.strip() == ""
                         and (before != "" or after_space))
        after_space = piece[-1].isspace()
    if phrase is not None and any(w is not None for w in phrase):
        (negatives if negative_phrase else terms).append(("phrase", phrase))
    return terms[:MAX_QUERY_TERMS], negatives
