"""Masking rules shared by everything that shows a person to the public (pure functions).

How a person's name is shown, and at what address level, in anything public: the indexer's
documents (:mod:`indexer.masking` masks every document with these functions) and the printed
village publicity list (admin/batches/publicity.py), which must show exactly what the online
公示名单 shows.

* names: ``王芳`` → ``王*``, ``张三丰`` → ``张*丰``, ``张王小明`` → ``张**明``; a compound surname stays
  and the given name is masked (``欧阳娜娜`` → ``欧阳**``); a minority name keeps the part before
  the middle dot (``阿依古丽·吐尔逊`` → ``阿依古丽·**``, fixed two stars so the length is not told);
* addresses at village level at most.

A deployment may make this *stricter* through :class:`MaskingPolicy` (``<data dir>/masking.json``),
never looser: no setting shows a full name. Projects whose name contains a sensitive keyword
(default 低保, 特困, 孤儿 — social assistance where policy asks for extra care) show the surname
only and stop at township level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from core.validation import MIDDLE_DOT, normalize_name

__all__ = [
    "COMPOUND_SURNAMES",
    "HIDDEN_NAME",
    "MaskingPolicy",
    "NameStyle",
    "RegionLevel",
    "card_last4",
    "load_policy",
    "mask_name",
    "surname_of",
]

NameStyle = Literal["masked", "surname", "hidden"]
RegionLevel = Literal["village", "township", "county"]

MASK = "*"
HIDDEN_NAME = "**"

# 复姓: the common compound surnames (百家姓 and those seen in today's registers).
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    """欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 轩辕 端木 独孤 南宫 西门
    百里 呼延 万俟 单于 澹台 太史 申屠 公羊 闻人 赫连 钟离 宗政 濮阳 淳于 仲孙 司空 亓官 司寇 子车
    颛孙 巫马 公西 漆雕 乐正 壤驷 公良 拓跋 夹谷 宰父 谷梁 段干 东郭 左丘 梁丘 第五 呼衍 东门
    南门 公冶 羊舌 微生 左人 公户 公玉 公仪 公乘 即墨 青阳 相里 闾丘 乌孙 叱干 贺兰 纳兰 完颜
    有琴 归海 谯笪 阳佟 褚师 后土""".split()
)

_NAME_STYLES = ("masked", "surname", "hidden")
_REGION_LEVELS = ("village", "township", "county")


@dataclass(frozen=True)
class MaskingPolicy:
    """What a deployment shows of a person in the public ``disclosures`` index.

    ``name_style``: ``masked`` (default: 张*丰), ``surname`` (张**) or ``hidden`` (**).
    ``sensitive_keywords``: a project whose name contains one of these is disclosed with
    ``sensitive_name_style`` and at most ``sensitive_region_level``.
    ``region_level``: the finest address level shown for every other project (village at most).
    """

    name_style: NameStyle = "masked"
    region_level: RegionLevel = "village"
    sensitive_keywords: tuple[str, ...] = ("低保", "最低生活保障", "特困", "孤儿")
    sensitive_name_style: NameStyle = "surname"
    sensitive_region_level: RegionLevel = "township"

    def __post_init__(self) -> None:
        for name in ("name_style", "sensitive_name_style"):
            if getattr(self, name) not in _NAME_STYLES:
                raise ValueError(f"脱敏配置 {name} 只能是 {'、'.join(_NAME_STYLES)}")
        for name in ("region_level", "sensitive_region_level"):
            if getattr(self, name) not in _REGION_LEVELS:
                raise ValueError(f"脱敏配置 {name} 只能是 {'、'.join(_REGION_LEVELS)}")
        if not all(isinstance(k, str) and k for k in self.sensitive_keywords):
            raise ValueError("脱敏配置 sensitive_keywords 应为非空字符串列表")

    def is_sensitive(self, project_name: str) -> bool:
        return any(keyword in project_name for keyword in self.sensitive_keywords)

    def name_style_for(self, project_name: str) -> NameStyle:
        return self.sensitive_name_style if self.is_sensitive(project_name) else self.name_style

    def region_level_for(self, project_name: str) -> RegionLevel:
        levels = [self.region_level]
        if self.is_sensitive(project_name):
            levels.append(self.sensitive_region_level)
        # the coarsest of the applicable levels
        return max(levels, key=_REGION_LEVELS.index)  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskingPolicy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"脱敏配置中有未知的设置：{'、'.join(unknown)}")
        values = dict(data)
        if "sensitive_keywords" in values:
            values["sensitive_keywords"] = tuple(values["sensitive_keywords"])
        return cls(**values)


def load_policy(data_dir: Path | str | None) -> MaskingPolicy:
    """The deployment's policy from ``<data dir>/masking.json``, or the defaults."""
    if data_dir is None:
        return MaskingPolicy()
    path = Path(data_dir) / "masking.json"
    if not path.is_file():
        return MaskingPolicy()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"脱敏配置文件 {path} 无法读取：{exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"脱敏配置文件 {path} 应为 JSON 对象")
    return MaskingPolicy.from_dict(data)


def surname_of(name: str) -> str:
    """The surname as shown: a compound surname, else the first character."""
    name = normalize_name(name)
    if not name:
        return ""
    if MIDDLE_DOT in name:
        return name.split(MIDDLE_DOT, 1)[0]
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[0]


@lru_cache(maxsize=65536)
def mask_name(name: str | None, style: NameStyle = "masked") -> str:
    """A person's name as it may be published (never the full name)."""
    name = normalize_name(name)
    if style == "hidden" or len(name) < 2:
        return HIDDEN_NAME
    if MIDDLE_DOT in name:
        first = name.split(MIDDLE_DOT, 1)[0]
        if not first:
            return HIDDEN_NAME
        return first + MIDDLE_DOT + HIDDEN_NAME
    surname = surname_of(name)
    if style == "surname":
        return surname + HIDDEN_NAME
    if len(surname) == 2:  # compound surname: the given name is masked whole
        return surname + MASK * (len(name) - 2)
    if len(name) == 2:
        return name[0] + MASK
    return name[0] + MASK * (len(name) - 2) + name[-1]


def card_last4(card_number: str | None) -> str:
    digits = "".join(ch for ch in (card_number or "") if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else ""
