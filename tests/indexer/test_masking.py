"""Masking: every name shape, the sensitive-project rule, and the personal-data detector."""

from __future__ import annotations

import json

import pytest

from indexer.masking import (
    MaskingPolicy,
    free_text_or,
    load_policy,
    mask_name,
    redact,
    scan_document,
    scan_for_personal_data,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王芳", "王*"),
        ("张三丰", "张*丰"),
        ("张王小明", "张**明"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("司马光", "司马*"),
        ("上官婉儿", "上官**"),
        ("阿依古丽·吐尔逊", "阿依古丽·**"),
        ("买买提·艾力", "买买提·**"),
        ("阿依古丽．吐尔逊", "阿依古丽·**"),  # full-width dot variant unified
        ("王　明", "王*"),  # roster padding removed
        (" 李四 ", "李*"),
        ("王", "**"),
        ("", "**"),
        (None, "**"),
    ],
)
def test_names_are_masked_by_shape(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize("name", ["王芳", "张三丰", "欧阳娜娜", "阿依古丽·吐尔逊", "张王小明", "诸葛孔明"])
def test_a_masked_name_never_is_the_full_name_and_keeps_at_most_two_han_characters(name: str) -> None:
    for style in ("masked", "surname", "hidden"):
        shown = mask_name(name, style)  # type: ignore[arg-type]
        assert shown != name and name not in shown
        if "·" not in name:
            assert sum(1 for ch in shown if ch not in "*·") <= 2


def test_surname_and_hidden_styles() -> None:
    assert mask_name("张三丰", "surname") == "张**"
    assert mask_name("欧阳娜娜", "surname") == "欧阳**"
    assert mask_name("阿依古丽·吐尔逊", "surname") == "阿依古丽·**"
    assert mask_name("张三丰", "hidden") == "**"


def test_sensitive_projects_get_the_stricter_rule() -> None:
    policy = MaskingPolicy()
    assert policy.name_style_for("农村低保金") == "surname"
    assert policy.region_level_for("特困人员救助供养金") == "township"
    assert policy.name_style_for("耕地地力保护补贴") == "masked"
    assert policy.region_level_for("耕地地力保护补贴") == "village"
    county = MaskingPolicy(region_level="county")
    assert county.region_level_for("农村低保金") == "county"  # never finer than the general rule


def test_deployment_policy_file(tmp_path) -> None:
    assert load_policy(tmp_path) == MaskingPolicy()
    (tmp_path / "masking.json").write_text(json.dumps({"name_style": "surname", "sensitive_keywords": ["残疾"]}),
                                           encoding="utf-8")
    policy = load_policy(tmp_path)
    assert policy.name_style == "surname" and policy.is_sensitive("残疾人两项补贴")
    (tmp_path / "masking.json").write_text(json.dumps({"name_style": "full"}), encoding="utf-8")
    with pytest.raises(ValueError, match="name_style"):
        load_policy(tmp_path)
    (tmp_path / "masking.json").write_text(json.dumps({"show_id": True}), encoding="utf-8")
    with pytest.raises(ValueError, match="未知的设置"):
        load_policy(tmp_path)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("身份证号410423195001011236，", "id_number"),
        ("41042319500101123X", "id_number"),
        ("id=41262619500101123x&", "id_number"),
        ("卡号 6217001234567890123 已销户", "card_number"),
        ("6217 0012 3456 7890", "card_number"),
        ("6217-0012-3456-7890-123", "card_number"),
        ("电话13812345678", "phone"),
        ("+86 13812345678", "phone"),
        ("138-1234-5678", "phone"),
        ("138 1234 5678", "phone"),
    ],
)
def test_detector_finds_personal_numbers(text: str, kind: str) -> None:
    found = scan_for_personal_data(text)
    assert found and found[0].startswith(kind + ":")


@pytest.mark.parametrize(
    "text",
    [
        "金额 1234.50 元，123450 分",
        "卡尾号 8303",
        "2025-04-01 批次 B2025-007",
        "410423101003",  # a village code (12 digits)
        "fd50a82beffe2f5435d0dd64999981362f32d228dd42a76d0318dbe32dd9f347",  # hex digest with digit runs
        "12812345678",  # not a mobile prefix
        "公示期 2025年3月3日至3月7日",
    ],
)
def test_detector_leaves_ordinary_values_alone(text: str) -> None:
    assert scan_for_personal_data(text) == []


def test_redact_and_document_scan() -> None:
    reason = "户名张三丰与卡号6217001234567890123不符，联系13812345678"
    cleaned = redact(reason, ("张三丰",))
    assert scan_for_personal_data(cleaned) == [] and "张三丰" not in cleaned and "张*丰" in cleaned
    assert scan_document({"a": [{"b": "13812345678"}], "c": 5}) == ["phone:13812345678"]


GENERIC = "经审核，不符合本期发放条件。"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("经入户核实，该户已迁出本村", "经入户核实，该户已迁出本村"),
        ("  经核实\n已死亡  ", "经核实 已死亡"),
        ("张三丰已于8月去世", "张*丰已于8月去世"),  # the person's own name, masked
        ("村民李四反映该对象常年在外", GENERIC),  # who objected is never told
        ("来电13912345678反映不符合条件", GENERIC),
        ("身份证410423195001010012与户籍不符", GENERIC),
        ("老身份证410423500101001有误", GENERIC),  # 15 digits: a long digit run
        ("卡号6217 0000 1234 5678 已销户", GENERIC),
        ("", GENERIC),
        (None, GENERIC),
    ],
)
def test_free_text_is_shown_only_when_it_names_nobody_else_and_holds_no_number(text, shown) -> None:
    assert free_text_or(text, GENERIC, own_names=("张三丰",), other_names=("李四", "王芳")) == shown
