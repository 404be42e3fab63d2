"""The fixed sample people of demo mode (documented in docs/demo.md).

Their names, birth dates, villages, projects and cases are fixed; their ID and card numbers
depend only on the seed. The demo build computes them here (`sample_people(seed)`) and writes
`public_view(...)` of them once to `<data dir>/demo_people.json`; everyone else reads that file
(demo/people.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from random import Random

from core import regions
from core.validation import id_check_digit
from demo.data import BANKS
from demo.persons import make_card_number


@dataclass(frozen=True)
class SampleSpec:
    key: str
    name: str
    sex: str                      # M / F
    birth: date
    county: str
    id_prefix: str                # a historical code for some
    village: int                  # index into the county's villages
    policies: tuple[str, ...]     # lines in every paid/published batch of these (county, policy)
    pending: tuple[tuple[str, str], ...] = ()   # (policy, state of its latest batch): a pending line there
    failures: tuple[tuple[str, str, str, bool], ...] = ()  # (policy, period, failure code, re-issued)
    card_change: tuple[date, date] | None = None  # old card closed on, new card opened on
    banks: tuple[int, ...] = (0, 2)               # indexes into BANKS (first card, new card)
    shows: str = ""


SAMPLES: tuple[SampleSpec, ...] = (
    SampleSpec(
        "elder", "王桂兰", "F", date(1936, 3, 15), "410423", "412631", 3, ("GLJT", "CXYL"),
        pending=(("GLJT", "publicity"),),
        shows="高龄老人（1936年生）：高龄津贴、基础养老金按季度发放，2026年第二季度起按90周岁以上档；"
              "2026年第四季度高龄津贴正在公示（待发放）；身份证号为历史区划代码412631（原鲁山县）。",
    ),
    SampleSpec(
        "farmer", "李建国", "M", date(1968, 7, 22), "410423", "410423", 8, ("GDDL", "ZLYC"),
        card_change=(date(2024, 3, 25), date(2024, 7, 15)), banks=(1, 0),
        shows="种粮农民：耕地地力保护补贴、种粮一次性补贴2021—2026年逐年发放；"
              "2024年两笔因旧卡已销户发放失败，换新卡后已补发（有换卡记录）。",
    ),
    SampleSpec(
        "xiushan", "田秀珍", "F", date(1952, 11, 5), "500241", "512330", 5, ("CXYL", "SLST"),
        pending=(("CXYL", "bank"),), banks=(1,),
        shows="基础养老金按季度发放、森林生态效益补偿逐年发放；2026年第四季度养老金已送银行、待到账；"
              "身份证号为历史区划代码512330（原四川省秀山县）。",
    ),
    SampleSpec(
        "minority", "吉克·阿依莫", "F", date(1975, 2, 14), "530128", "530128", 12, ("KNCJ", "ZDCJ"),
        pending=(("KNCJ", "paid"),), banks=(2,),
        failures=(("KNCJ", "2026Q4", "NAME_MISMATCH", False),),
        shows="少数民族姓名（带间隔点）：残疾人生活补贴、护理补贴按季度发放；"
              "2026年第四季度残疾人生活补贴因户名与账号不符发放失败，尚未补发（待更正）。",
    ),
    SampleSpec(
        "compound", "欧阳志强", "M", date(1990, 9, 9), "500241", "513522", 9, ("STHL",),
        pending=(("STHL", "approval"),), banks=(3,),
        failures=(("STHL", "2025Q2", "ACCOUNT_FROZEN", True),),
        shows="复姓；生态护林员补助按季度发放；2025年第二季度因账户冻结发放失败，解冻后已补发；"
              "2026年第四季度待审批；身份证号为历史区划代码513522。",
    ),
    SampleSpec(
        "yunnan", "李文华", "M", date(1958, 5, 1), "530128", "530128", 20, ("GDDL", "CYST", "TGHL", "CXYL"), banks=(4,),
        shows="一人多项：耕地地力保护补贴、草原生态补奖、退耕还林补助逐年发放，基础养老金按季度发放。",
    ),
)


@dataclass(frozen=True)
class SamplePerson:
    spec: SampleSpec
    id_number: str
    card_numbers: tuple[str, ...]   # first card, then the new one after a change
    bank_names: tuple[str, ...]

    @property
    def card_number(self) -> str:
        return self.card_numbers[-1]


def sample_people(seed: int) -> list[SamplePerson]:
    """The sample people for a seed (same seed → same numbers)."""
    rng = Random(f"{seed}:samples")
    used_cards: set[str] = set()
    out: list[SamplePerson] = []
    for spec in SAMPLES:
        seq = rng.randint(10, 99)
        digit = rng.randrange(1 if spec.sex == "M" else 0, 10, 2)
        first17 = f"{spec.id_prefix}{spec.birth:%Y%m%d}{seq:02d}{digit}"
        cards, banks = [], []
        for index in spec.banks[: 2 if spec.card_change else 1]:
            number, bank = make_card_number(rng, used_cards, BANKS[index])
            cards.append(number)
            banks.append(bank)
        out.append(SamplePerson(spec, first17 + id_check_digit(first17), tuple(cards), tuple(banks)))
    return out


def public_view(people: list[SamplePerson]) -> list[dict[str, str]]:
    """What demo mode shows of them (home page, kiosk start screen, `yikatong demo people`)."""
    return [
        {
            "key": p.spec.key,
            "id_number": p.id_number,
            "name": p.spec.name,
            "card_number": p.card_number,
            "card_last4": p.card_number[-4:],
            "region": regions.full_name(p.spec.county),
            "shows": p.spec.shows,
        }
        for p in people
    ]
