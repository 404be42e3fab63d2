"""The Meilisearch stand-in behaves like Meilisearch: documented behaviour, checked against the
stand-in always and against a real Meilisearch too when ``MEILI_URL`` is set -- so a difference
between the two shows up here, not as a puzzling adapter failure.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import meilisearch
import pytest
from meilisearch.errors import MeilisearchApiError

from tests.search.conftest import Server


@pytest.fixture
def uid(server: Server) -> Iterator[str]:
    name = f"s{secrets.token_hex(5)}"
    yield name
    client = server.client()
    for index in client.get_raw_indexes({"limit": 1000})["results"]:
        if index["uid"].startswith(name):
            client.delete_index(index["uid"])


def _wait(client: meilisearch.Client, task: Any) -> Any:
    uid = task["taskUid"] if isinstance(task, dict) else task.task_uid
    return client.wait_for_task(uid, interval_in_ms=5)


def _http(server: Server, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=server.url, headers=headers)


MOVIES = [
    {"id": 1, "title": "Carol", "genres": ["Romance", "Drama"], "year": 2015, "rank": "b"},
    {"id": 2, "title": "Wonder Woman", "genres": ["Action"], "year": 2017, "rank": 3},
    {"id": 3, "title": "Life of Pi", "genres": ["adventure", "Drama"], "year": 2012},
    {"id": 4, "title": "Mad Max", "genres": ["action", "Adventure"], "year": 2015, "rank": 1},
    {"id": 5, "title": "Moana", "genres": [], "year": None, "rank": "a"},
]


@pytest.fixture
def movies(server: Server, uid: str) -> meilisearch.index.Index:
    client = server.client()
    index = client.index(uid)
    _wait(client, client.create_index(uid, {"primaryKey": "id"}))
    _wait(client, index.update_settings({"filterableAttributes": ["genres", "year"],
                                         "sortableAttributes": ["year", "rank"]}))
    task = _wait(client, index.add_documents(MOVIES))
    assert task.status == "succeeded", task.error
    return index


def test_api_key_is_checked(server: Server) -> None:
    if server.key is None:
        pytest.skip("the configured Meilisearch runs without a master key")
    with _http(server) as http:
        answer = http.get("/indexes")
        assert answer.status_code == 401
        assert answer.json()["code"] == "missing_authorization_header"
        assert answer.json()["type"] == "auth"
        assert http.get("/health").status_code == 200
    with _http(server, "wrong") as http:
        answer = http.get("/indexes")
        assert (answer.status_code, answer.json()["code"]) == (403, "invalid_api_key")
    with _http(server, server.key) as http:
        assert http.get("/indexes").status_code == 200


def test_tasks_are_asynchronous_and_fail_with_error_objects(server: Server, uid: str) -> None:
    client = server.client()
    with _http(server, server.key) as http:
        answer = http.post("/indexes", json={"uid": uid, "primaryKey": "id"})
        assert answer.status_code == 202
        summary = answer.json()
        assert summary["status"] == "enqueued" and summary["type"] == "indexCreation"
        assert summary["indexUid"] == uid
        done = _wait(client, summary)
        assert done.status == "succeeded" and done.details == {"primaryKey": "id"}
        assert done.started_at is not None and done.finished_at is not None
        again = _wait(client, http.post("/indexes", json={"uid": uid}).json())
        assert again.status == "failed"
        assert again.error == {"message": f"Index `{uid}` already exists.",
                               "code": "index_already_exists", "type": "invalid_request",
                               "link": "https://docs.meilisearch.com/errors#index_already_exists"}
        gone = _wait(client, http.delete(f"/indexes/{uid}_missing").json())
        assert gone.error["code"] == "index_not_found"
        answer = http.get("/tasks/4294967295")
        assert (answer.status_code, answer.json()["code"]) == (404, "task_not_found")
        answer = http.post("/indexes", json={"uid": "not valid!"})
        assert (answer.status_code, answer.json()["code"]) == (400, "invalid_index_uid")
    failed = client.get_tasks({"indexUids": [uid], "statuses": ["failed"]})
    assert [t.uid for t in failed.results] == [again.uid]


def test_settings_defaults_merge_and_validation(server: Server, uid: str) -> None:
    client = server.client()
    index = client.index(uid)
    _wait(client, client.create_index(uid))
    settings = index.get_settings()
    assert settings["rankingRules"] == ["words", "typo", "proximity", "attribute", "sort",
                                        "exactness"]
    assert settings["searchableAttributes"] == ["*"]
    assert settings["typoTolerance"]["enabled"] is True
    assert settings["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert settings["pagination"] == {"maxTotalHits": 1000}
    assert settings["faceting"]["maxValuesPerFacet"] == 100
    assert (settings["prefixSearch"], settings["facetSearch"]) == ("indexingTime", True)
    assert settings["proximityPrecision"] == "byWord"

    _wait(client, index.update_settings({"typoTolerance": {"enabled": False},
                                         "sortableAttributes": ["b", "a", "b"]}))
    settings = index.get_settings()
    assert settings["typoTolerance"]["enabled"] is False
    assert settings["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert settings["sortableAttributes"] == ["a", "b"]
    _wait(client, index.update_settings({"typoTolerance": None}))
    assert index.get_settings()["typoTolerance"]["enabled"] is True

    for body, code in [({"doggo": 1}, "bad_request"),
                       ({"prefixSearch": "sometimes"}, "invalid_settings_prefix_search"),
                       ({"rankingRules": ["fame"]}, "invalid_settings_ranking_rules"),
                       ({"typoTolerance": {"on": True}}, "invalid_settings_typo_tolerance"),
                       ({"displayedAttributes": "id"}, "invalid_settings_displayed_attributes")]:
        with pytest.raises(MeilisearchApiError) as caught:
            index.update_settings(body)
        assert (caught.value.status_code, caught.value.code) == (400, code), body


def test_settings_update_and_documents_create_a_missing_index(server: Server, uid: str) -> None:
    client = server.client()
    assert _wait(client, client.index(uid).update_settings({"sortableAttributes": ["x"]})
                 ).status == "succeeded"
    assert client.get_index(uid).primary_key is None
    task = _wait(client, client.index(uid + "b").add_documents([{"movie_id": "m1", "t": "x"}]))
    assert task.status == "succeeded"
    assert client.get_index(uid + "b").primary_key == "movie_id"


def test_documents_are_checked_when_processed(server: Server, uid: str) -> None:
    client = server.client()
    index = client.index(uid)
    _wait(client, client.create_index(uid, {"primaryKey": "id"}))
    bad_id = _wait(client, index.add_documents([{"id": "ok"}, {"id": "a b"}]))
    assert bad_id.error["code"] == "invalid_document_id"
    missing = _wait(client, index.add_documents([{"title": "no id"}]))
    assert missing.error["code"] == "missing_document_id"
    assert index.get_stats().number_of_documents == 0  # a failed batch adds nothing
    with pytest.raises(MeilisearchApiError) as caught:
        index.get_document("ok")
    assert (caught.value.status_code, caught.value.code) == (404, "document_not_found")


def test_filters(movies: meilisearch.index.Index) -> None:
    def ids(filter_: Any) -> list[int]:
        return sorted(h["id"] for h in movies.search("", {"filter": filter_})["hits"])

    assert ids("genres = action") == [2, 4]  # case-insensitive, any element of the list
    assert ids('genres = "DRAMA"') == [1, 3]
    assert ids("year = 2015") == [1, 4]
    assert ids('year = "2017"') == [2]  # a quoted value that reads as a number
    assert ids("year 2013 TO 2016") == [1, 4]
    assert ids("year > 2014 AND NOT genres = romance") == [2, 4]
    assert ids(["year >= 2017", ["genres = romance", "genres = adventure"]]) == []
    assert ids([["genres = romance", "genres = adventure"]]) == [1, 3, 4]
    assert ids("genres IN [Romance, 'action']") == [1, 2, 4]
    assert ids("genres NOT IN [drama]") == [2, 4, 5]
    assert ids("year IS NULL") == [5]
    assert ids("genres IS EMPTY") == [5]
    assert ids("year NOT EXISTS") == []
    with pytest.raises(MeilisearchApiError) as caught:
        movies.search("", {"filter": "title = Carol"})
    assert caught.value.code == "invalid_search_filter"
    with pytest.raises(MeilisearchApiError) as caught:
        movies.search("", {"filter": "genres = "})
    assert caught.value.code == "invalid_search_filter"


def test_facets_sort_and_paging(movies: meilisearch.index.Index) -> None:
    answer = movies.search("", {"facets": ["genres", "year"]})
    # grouped case-insensitively, shown as the first document holding the value has it
    assert answer["facetDistribution"]["genres"] == {"Action": 2, "adventure": 2, "Drama": 2,
                                                     "Romance": 1}
    assert answer["facetDistribution"]["year"] == {"2012": 1, "2015": 2, "2017": 1}
    assert answer["facetStats"]["year"] == {"min": 2012, "max": 2017}
    assert answer["estimatedTotalHits"] == 5 and answer["limit"] == 20
    # numbers before strings, documents without a value last, in both directions
    asc = [h["id"] for h in movies.search("", {"sort": ["rank:asc"]})["hits"]]
    desc = [h["id"] for h in movies.search("", {"sort": ["rank:desc"]})["hits"]]
    assert asc == [4, 2, 5, 1, 3] and desc == [2, 4, 1, 5, 3]
    paged = movies.search("", {"sort": ["year:asc"], "page": 2, "hitsPerPage": 2})
    assert [h["id"] for h in paged["hits"]] == [4, 2]
    assert (paged["totalHits"], paged["totalPages"], paged["page"]) == (5, 3, 2)
    with pytest.raises(MeilisearchApiError) as caught:
        movies.search("", {"sort": ["title:asc"]})
    assert caught.value.code == "invalid_search_sort"
    with pytest.raises(MeilisearchApiError) as caught:
        movies.search("", {"facets": ["title"]})
    assert caught.value.code == "invalid_search_facets"


def test_words_phrases_and_prefixes(movies: meilisearch.index.Index) -> None:
    def ids(q: str, **params: Any) -> list[int]:
        return sorted(h["id"] for h in movies.search(q, params)["hits"])

    assert ids("wonder") == [2]
    assert ids("won") == [2]  # the last word is a prefix
    assert ids("won ", matchingStrategy="all") == []  # ... unless a space follows it
    assert ids('"woman wonder"') == []  # a phrase keeps its order
    assert ids('"wonder woman"') == [2]
    assert ids("life pi", matchingStrategy="all") == [3]
    assert ids("mad doggo", matchingStrategy="all") == []
    assert ids("mad doggo") == [4]  # matchingStrategy last drops words from the end
    assert ids("wonder -woman") == []


def test_max_total_hits_caps_paging(server: Server, uid: str) -> None:
    client = server.client()
    index = client.index(uid)
    _wait(client, client.create_index(uid, {"primaryKey": "id"}))
    _wait(client, index.update_settings({"pagination": {"maxTotalHits": 3}}))
    _wait(client, index.add_documents([{"id": i} for i in range(5)]))
    answer = index.search("", {"page": 1, "hitsPerPage": 10})
    assert (len(answer["hits"]), answer["totalHits"]) == (3, 3)
    assert index.search("", {"offset": 2, "limit": 10})["hits"] == [{"id": 2}]


def test_swap(server: Server, uid: str) -> None:
    client = server.client()
    _wait(client, client.index(uid + "a").add_documents([{"id": 1}]))
    _wait(client, client.index(uid + "b").add_documents([{"id": 1}, {"id": 2}]))
    done = _wait(client, client.swap_indexes([{"indexes": [uid + "a", uid + "b"]}]))
    assert done.status == "succeeded"
    assert client.index(uid + "a").get_stats().number_of_documents == 2
    failed = _wait(client, client.swap_indexes([{"indexes": [uid + "a", uid + "c"]}]))
    assert failed.error["code"] == "index_not_found"
    with pytest.raises(MeilisearchApiError) as caught:
        client.swap_indexes([{"indexes": [uid + "a"]}])
    assert caught.value.code == "invalid_swap_indexes"
