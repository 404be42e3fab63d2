from __future__ import annotations

import pytest

from core import regions
from core.regions import Region


def test_counties_from_the_seeds() -> None:
    assert regions.get("410423") == Region("410423", "鲁山县", "county", "4104")
    assert regions.get("500241") == Region("500241", "秀山土家族苗族自治县", "county", "5002")
    assert regions.full_name("500241") == "重庆市秀山土家族苗族自治县"


def test_township_path_and_full_name() -> None:
    names = [(r.level, r.name) for r in regions.path("410423204")]
    assert names == [
        ("province", "河南省"),
        ("city", "平顶山市"),
        ("county", "鲁山县"),
        ("township", "让河乡"),
    ]
    assert regions.full_name("410423204") == "河南省平顶山市鲁山县让河乡"
    assert regions.full_name("410423204000") == "河南省平顶山市鲁山县让河乡"


def test_placeholder_levels_left_out() -> None:
    assert regions.full_name("110101") == "北京市东城区"
    assert regions.full_name("441900") == "广东省东莞市"


def test_padded_codes() -> None:
    assert regions.canonical_code("410000") == "41"
    assert regions.canonical_code("410400") == "4104"
    assert regions.canonical_code("441900") == "441900"
    assert regions.get("410400").name == "平顶山市"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        regions.canonical_code("41a")


def test_children() -> None:
    townships = regions.children("410423")
    assert "410423204" in {r.code for r in townships}
    assert all(r.level == "township" and r.parent_code == "410423" for r in townships)
    assert [r.code for r in townships] == sorted(r.code for r in townships)
    assert regions.children("410423204") == []
    assert regions.children("nonsense") == []
    assert len(regions.children("41")) == 18  # 17 prefectures + 省直辖县级行政区划


def test_unknown_codes() -> None:
    assert regions.get("999999") is None
    assert regions.path("999999") == []
    assert regions.full_name("999999") == ""
    assert regions.get("410423204201") is None  # villages are not in the data


def test_county_prefixes() -> None:
    assert "410423" in regions.county_codes()
    assert len(regions.county_codes()) == 2978
    assert regions.is_known_county_prefix("410423")
    assert regions.is_known_county_prefix("410400")
    assert regions.is_known_county_prefix("410000")
    assert not regions.is_known_county_prefix("999999")
    assert not regions.is_known_county_prefix("412631")  # historical: checked in validation
    assert not regions.is_known_county_prefix("41042")


def test_village_code() -> None:
    assert regions.village_code("410423204", 201) == "410423204201"
    assert regions.village_code("410423204", 7) == "410423204007"
    assert regions.level_of("410423204201") == "village"
    with pytest.raises(ValueError):
        regions.village_code("410423", 1)
    with pytest.raises(ValueError):
        regions.village_code("410423204", 1000)
