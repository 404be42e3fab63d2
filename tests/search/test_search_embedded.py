"""Embedded engine specifics: several processes on one folder, crashes, atomic swaps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from search import make_engine
from search.base import SearchQuery
from search.embedded import EmbeddedEngine, sort_key
from search.schemas import DISCLOSURES
from tests.search.conftest import make_disclosures

ROOT = Path(__file__).resolve().parents[2]


def test_make_engine_defaults_to_embedded(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, None, None)
    assert isinstance(engine, EmbeddedEngine) and engine.root == tmp_path / "search"


def test_a_second_reader_sees_commits_and_swaps(tmp_path: Path) -> None:
    writer, reader = EmbeddedEngine(tmp_path), EmbeddedEngine(tmp_path)
    writer.ensure_index(DISCLOSURES)
    assert reader.count("disclosures") == 0
    writer.replace_documents("disclosures", make_disclosures(20))
    assert reader.count("disclosures") == 20
    writer.ensure_index(DISCLOSURES.renamed("next"))
    writer.replace_documents("next", make_disclosures(5))
    writer.swap("disclosures", "next")
    writer.delete_index("next")
    assert reader.count("disclosures") == 5
    assert reader.search("disclosures", SearchQuery(q="村")).total == 5 - sum(
        "村" not in d["village"] + d["township"] for d in make_disclosures(5))


def test_crash_half_way_leaves_the_old_index_serving(tmp_path: Path) -> None:
    engine = EmbeddedEngine(tmp_path)
    engine.ensure_index(DISCLOSURES)
    engine.replace_documents("disclosures", make_disclosures(30))
    script = textwrap.dedent(f"""
        import os
        from search.embedded import EmbeddedEngine
        from tests.search.conftest import make_disclosures
        def docs():
            for i, d in enumerate(make_disclosures(200, seed=3)):
                if i == 150:
                    os._exit(3)  # killed mid-write
                yield dict(d, id="n" + d["id"])
        EmbeddedEngine({str(tmp_path)!r}).replace_documents("disclosures", docs())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60)
    assert done.returncode == 3
    assert engine.count("disclosures") == 30
    assert EmbeddedEngine(tmp_path).count("disclosures") == 30
    # the write lock died with the process: the next write goes through
    engine.replace_documents("disclosures", make_disclosures(3, seed=4))
    assert engine.count("disclosures") == 30


def test_readers_never_see_a_half_swapped_index(tmp_path: Path) -> None:
    writer = EmbeddedEngine(tmp_path)
    writer.ensure_index(DISCLOSURES)
    writer.replace_documents("disclosures", make_disclosures(40))
    seen: set[int] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = EmbeddedEngine(tmp_path)
        try:
            while not stop.is_set():
                seen.add(reader.search("disclosures", SearchQuery(facets=["kind"])).total)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_ in range(6):
            size = 10 if round_ % 2 == 0 else 40
            writer.ensure_index(DISCLOSURES.renamed("tmp"))
            writer.replace_documents("tmp", make_disclosures(size))
            writer.swap("disclosures", "tmp")
            writer.delete_index("tmp")
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen <= {10, 40}


def test_sort_keys_preserve_order() -> None:
    values = [-5.5, -1, 0, 3, 1e6, 2**40]
    keys = [sort_key(v) for v in values]
    assert keys == sorted(keys)
    desc = [sort_key(v, desc=True) for v in values]
    assert desc == sorted(desc, reverse=True)
    dates = ["2023-01-02", "2023-01-10", "2024-12-31"]
    assert [sort_key(d) for d in dates] == sorted(sort_key(d) for d in dates)
    assert sort_key(None) > sort_key("zzz") and sort_key(None, desc=True) > sort_key(0, True)
    assert sort_key("ab") < sort_key("abc") < sort_key("b")
