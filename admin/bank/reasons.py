"""A bank's failure reason (失败原因) → a stable code, a short label and what the person should do.

Banks write the reason as free text (账户已销户, 户名不一致, 该账户已冻结 …) or as a code; both are
accepted. The code is stored on the failed line (``failure_code``), the instruction in
``advice`` (shown to the person by the portal, the kiosk and the bot), and the reason itself in
``failure_reason`` (the label when the bank gave only a code). An unknown reason gets the
generic code ``BANK_OTHER`` and the generic instruction, never an error: the bank's own words are
kept for the department to read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FailureReason", "REASONS", "UNKNOWN", "classify", "reason_text"]


@dataclass(frozen=True)
class FailureReason:
    code: str
    label: str
    advice: str  # what the person should do, in plain Chinese
    words: tuple[str, ...] = ()  # words of the bank's text that mean this reason


REASONS: tuple[FailureReason, ...] = (
    FailureReason("CARD_LOST", "社会保障卡已挂失",
                  "您的社会保障卡已挂失。请携带身份证到社保卡合作银行补卡，再到乡镇（街道）财政所或村（社区）登记新卡号，"
                  "之后将重新发放。", ("挂失", "lost")),
    FailureReason("ACCOUNT_FROZEN", "账户冻结",
                  "您的社会保障卡账户被冻结或止付。请携带身份证和社保卡到开户银行了解原因并解除冻结，再告知乡镇（街道）财政所，"
                  "之后将重新发放。", ("冻结", "止付", "frozen")),
    FailureReason("ACCOUNT_INACTIVE", "账户未激活",
                  "您的社会保障卡金融功能尚未激活（或账户长期未用已转为不动户）。请本人携带身份证和社保卡到社保卡合作银行网点激活，"
                  "再告知乡镇（街道）财政所，之后将重新发放。",
                  ("未激活", "激活", "金融功能", "未启用", "睡眠", "久悬", "不动户", "inactive")),
    FailureReason("ACCOUNT_CLOSED", "账户已销户",
                  "您的社会保障卡账户已销户。请携带身份证到社保卡合作银行补办或换卡，再到乡镇（街道）财政所或村（社区）登记新卡号，"
                  "之后将重新发放。", ("销户", "注销", "已销", "closed")),
    FailureReason("NAME_MISMATCH", "户名不符",
                  "银行账户的户名与登记的姓名不一致。请携带身份证和社保卡到乡镇（街道）财政所核对姓名，更正后将重新发放。",
                  ("户名", "姓名", "名称不符", "name")),
    FailureReason("NO_SUCH_ACCOUNT", "卡号不存在",
                  "登记的社会保障卡卡号有误或不存在。请携带身份证和社保卡到乡镇（街道）财政所或村（社区）核对并更正卡号，"
                  "之后将重新发放。", ("不存在", "无此", "账号错误", "卡号错误", "账号有误", "卡号有误", "account")),
    FailureReason("ACCOUNT_LIMIT", "超出账户限额",
                  "您的账户收款超出银行设定的限额（如Ⅱ类账户）。请携带身份证和社保卡到开户银行调整账户，再告知乡镇（街道）财政所，"
                  "之后将重新发放。", ("限额", "超限", "limit")),
)
UNKNOWN = FailureReason("BANK_OTHER", "银行未能入账",
                        "这笔补贴银行未能入账。请携带身份证和社会保障卡到乡镇（街道）财政所或主管部门核实账户信息，"
                        "更正后将重新发放。")
_BY_CODE = {reason.code: reason for reason in (*REASONS, UNKNOWN)}


def classify(text: str | None) -> FailureReason:
    """The reason the bank's text (or code) names; :data:`UNKNOWN` when none fits."""
    cleaned = (text or "").strip()
    if cleaned.upper() in _BY_CODE:
        return _BY_CODE[cleaned.upper()]
    lowered = cleaned.lower()
    for reason in REASONS:
        if any(word in lowered for word in reason.words):
            return reason
    return UNKNOWN


def reason_text(text: str | None, reason: FailureReason) -> str:
    """What ``failure_reason`` holds: the bank's words, or the label when the bank gave only a code
    (or nothing), at most 200 characters."""
    cleaned = " ".join((text or "").split())
    if not cleaned or cleaned.isascii():
        return reason.label
    return cleaned[:200]
