"""What the bot answers: text commands, menu CLICK keys and subscribe events → one short Chinese text.

Commands (a menu CLICK key stands for the same text, see :mod:`bot.menu`):

=============  ==========================================================================
查询 / 最新     the bound person's latest lines (paid, pending, failed)
明白条 [年份]   that year's statement summary (default: the newest year) + a signed link
失败            failed lines and lines that did not pass review or publicity: the reason, what to do
政策 关键词     policy search in the ``policies`` index
投诉            link to the complaint form
绑定 / 解绑     link to the binding page / remove the binding
帮助            the command list
=============  ==========================================================================

Unknown text gets the help plus a policy search for the text. An ID number (or a card number)
typed into chat is never echoed or searched: the answer says how to bind instead.
Replies stay under :data:`MAX_REPLY` characters and end politely when cut.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot import bindings
from bot.menu import CLICK_COMMANDS, MENU_HELP
from core.config import Config
from core.db import Database
from portal.lookup import lookup_by_person_key
from portal.statements import make_statement_token
from search.base import IndexNotFound, InvalidQuery, SearchEngine, SearchQuery, SearchUnavailable

MAX_REPLY = 600
LATEST_COUNT = 5
POLICY_HITS = 3
CUT_NOTE = "\n……（内容较多，完整信息请点击上方链接或到门户网站查看）"

# ID numbers (18, or 15 legacy), card numbers (16–19) and phone numbers (11 digits): any run of
# 11–19 digits, with the spaces/dashes people type between groups.
_SENSITIVE = re.compile(r"(?<!\d)(?:\d[\s-]?){10,18}[\dXx](?![\dXx])")

HELP = (
    "您可以发送：\n"
    "“查询”—最新补贴发放情况\n"
    "“明白条”或“明白条 2024”—年度明白条\n"
    "“失败”—发放失败或未通过审核的原因和处理办法\n"
    "“政策 关键词”—查询补贴政策，如“政策 耕地”\n"
    "“投诉”—投诉举报\n"
    "“绑定”/“解绑”—绑定或解除绑定本人身份\n"
    "查询本人补贴需先绑定，请不要在对话中发送身份证号码。"
)

WELCOME = "欢迎关注惠民惠农财政补贴资金“一卡通”公开查询！\n" + MENU_HELP + "\n\n" + HELP

SENSITIVE_REPLY = (
    "为保护您的信息安全，请不要在对话中发送身份证号码、银行卡号或手机号码，我们不会查看或保存。\n"
    "查询本人补贴请先绑定：发送“绑定”，在打开的页面中填写身份证号码、姓名和社保卡号后4位。"
)


@dataclass
class BotContext:
    config: Config
    public_db: Database
    search: SearchEngine


def fit(text: str, limit: int = MAX_REPLY) -> str:
    """Cut a reply to WeChat's comfortable size, ending with a polite note."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(CUT_NOTE)]
    if "\n" in head:
        head = head[: head.rfind("\n")]
    return head + CUT_NOTE


def contains_sensitive_number(text: str) -> bool:
    return bool(_SENSITIVE.search(unicodedata.normalize("NFKC", text or "")))


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


# --- answering ---------------------------------------------------------------------------------


def answer_text(ctx: BotContext, openid: str, text: str) -> str:
    if contains_sensitive_number(text):
        return SENSITIVE_REPLY
    text = _normalise(text)
    command, _, rest = text.partition(" ")
    # "明白条2024" and "政策耕地" without a space work too.
    for word in ("明白条", "政策"):
        if command.startswith(word) and command != word:
            command, rest = word, (command[len(word):] + " " + rest).strip()
    handler = COMMANDS.get(command)
    if handler is not None:
        return fit(handler(ctx, openid, rest.strip()))
    return fit(unknown(ctx, text))


def answer_event(ctx: BotContext, openid: str, event: str, key: str | None) -> str:
    event = (event or "").lower()
    if event in ("subscribe", "subscribe_scan"):
        return fit(WELCOME)
    if event == "unsubscribe":
        # Nobody reads the answer; an unfollowed account keeps no binding.
        bindings.unbind(ctx.public_db, openid)
        return ""
    if event == "click":
        command = CLICK_COMMANDS.get(key or "")
        if command is None:
            return fit(HELP)
        return answer_text(ctx, openid, command)
    return ""  # view, location, template-send-finished …: nothing to say


def answer(ctx: BotContext, message) -> str:
    """The reply text for a parsed wechatpy message ("" = nothing to say)."""
    openid = message.source or ""
    if message.type == "text":
        return answer_text(ctx, openid, message.content or "")
    if message.type == "event":
        return answer_event(ctx, openid, getattr(message, "event", ""), getattr(message, "key", None))
    return fit("暂时只能处理文字消息。\n" + HELP)


# --- the commands ------------------------------------------------------------------------------


def _person(ctx: BotContext, openid: str):
    person_key = bindings.person_key_of(ctx.public_db, openid)
    if person_key is None:
        return None, _not_bound(ctx, openid)
    try:
        person = lookup_by_person_key(ctx.search, person_key)
    except SearchUnavailable:
        return None, "查询服务暂时不可用，请稍后再试。"
    if person is None:
        return None, "您已绑定，但暂未查询到公开的发放记录。补贴结果会在发放后5个工作日内公开，请稍后再查。"
    return person, ""


def _not_bound(ctx: BotContext, openid: str) -> str:
    link = bindings.bind_link(ctx.config.public_base_url, ctx.config.session_secret, openid)
    return ("您还没有绑定本人身份，请点击下面的链接，填写身份证号码、姓名和社保卡号后4位完成绑定"
            f"（30分钟内有效）：\n{link}\n请不要在对话中发送身份证号码。")


def _line(item) -> str:
    when = item.date_zh or "—"
    text = f"{when} {item.project_name} {item.amount:.2f}元 {item.state_label}"
    if item.state in ("pending", "withdrawn"):
        text += f"（{item.stage}）"
    return text


def latest(ctx: BotContext, openid: str, _rest: str) -> str:
    person, reply = _person(ctx, openid)
    if person is None:
        return reply
    items = [i for y in person.years for i in (*y.paid, *y.pending, *y.failed, *y.withdrawn)]
    items.sort(key=lambda i: (i.date or date.max, i.id), reverse=True)
    lines = [f"{n}. {_line(i)}" for n, i in enumerate(items[:LATEST_COUNT], 1)]
    text = "最新补贴发放情况：\n" + "\n".join(lines)
    if person.failed_count:
        text += f"\n有{person.failed_count}笔发放失败，发送“失败”查看原因和处理办法。"
    if person.withdrawn_count:
        text += f"\n有{person.withdrawn_count}笔未通过审核，发送“失败”查看原因和处理办法。"
    text += "\n发送“明白条”查看年度明白条。"
    return text


def statement(ctx: BotContext, openid: str, rest: str) -> str:
    person, reply = _person(ctx, openid)
    if person is None:
        return reply
    match = re.search(r"\d{4}", rest)
    if rest and not match:
        return "请按“明白条 2024”的格式发送年份。"
    year = int(match.group()) if match else person.years[0].year
    data = person.year(year)
    if data is None or not (data.paid or data.pending or data.failed or data.withdrawn):
        known = "、".join(str(y.year) for y in person.years)
        return f"{year}年暂无公开的发放记录。有记录的年份：{known}。"
    parts = [f"{year}年明白条："]
    totals: dict[str, Decimal] = {}
    for item in data.paid:
        totals[item.project_name] = totals.get(item.project_name, Decimal("0.00")) + item.amount
    for project, amount in totals.items():
        parts.append(f"{project} {amount:.2f}元")
    parts.append(f"合计已发放 {data.total_paid:.2f}元")
    if data.pending:
        parts.append(f"待发放 {data.total_pending:.2f}元")
    if data.total_failed:
        parts.append(f"发放失败 {data.total_failed:.2f}元（发送“失败”查看原因）")
    if data.withdrawn:
        parts.append(f"未通过审核 {len(data.withdrawn)}笔（发送“失败”查看原因）")
    if data.paid:
        token = make_statement_token(ctx.config.session_secret, person.person_key, year, "")
        parts.append(f"明白条详情（可打印，链接短时有效）：\n{ctx.config.public_base_url}/statement/{token}")
    return "\n".join(parts)


def failures(ctx: BotContext, openid: str, _rest: str) -> str:
    person, reply = _person(ctx, openid)
    if person is None:
        return reply
    failed = [i for y in person.years for i in y.failed if i.state in ("failed", "returned")]
    withdrawn = [i for y in person.years for i in y.withdrawn]
    if not failed and not withdrawn:
        return "您没有发放失败的记录。"
    parts = []
    if withdrawn:  # first: the reply is cut at MAX_REPLY, and these are the newest news
        parts.append(f"未通过审核的记录（{len(withdrawn)}笔）：")
        for n, item in enumerate(withdrawn, 1):
            parts.append(f"{n}. {item.period} {item.project_name} {item.amount:.2f}元 {item.stage}\n"
                         f"原因：{item.failure_reason}\n处理办法：{item.advice}")
    if failed:
        parts.append(f"发放失败的记录（{len(failed)}笔）：")
        for n, item in enumerate(failed, 1):
            when = item.date_zh or f"{item.year}年"
            parts.append(f"{n}. {when} {item.project_name} {item.amount:.2f}元\n原因：{item.failure_reason}\n"
                         f"处理办法：{item.advice}")
    return "\n".join(parts)


def policy(ctx: BotContext, _openid: str, rest: str) -> str:
    if not rest:
        return "请在“政策”后加关键词，如“政策 耕地地力”“政策 高龄津贴”。"
    found = search_policies(ctx, rest)
    if found is None:
        return "政策查询暂时不可用，请稍后再试。"
    link = f"{ctx.config.public_base_url}/policies"
    if not found:
        return f"没有找到与“{rest[:20]}”相关的补贴政策。可换个关键词，或查看补贴政策清单：{link}"
    return f"与“{rest[:20]}”相关的补贴政策：\n" + found + f"\n更多政策：{link}"


def search_policies(ctx: BotContext, text: str) -> str | None:
    """Top policy hits as short lines ("" when none; None when search is unavailable)."""
    try:
        result = ctx.search.search("policies", SearchQuery(q=text[:50], per_page=POLICY_HITS))
    except (IndexNotFound, InvalidQuery):
        return ""
    except SearchUnavailable:
        return None
    lines = []
    for n, hit in enumerate(result.hits, 1):
        line = f"{n}. {hit.get('name', '')}"
        if hit.get("standard"):
            line += f"：{hit['standard']}"
        if hit.get("document_number"):
            line += f"（{hit['document_number']}）"
        lines.append(line[:150])
    return "\n".join(lines)


def complaint(ctx: BotContext, _openid: str, _rest: str) -> str:
    return ("对补贴发放有疑问或发现违规问题，可在线投诉举报，提交后会得到查询码，可随时查看办理进度：\n"
            f"{ctx.config.public_base_url}/complaints/new")


def bind_command(ctx: BotContext, openid: str, _rest: str) -> str:
    link = bindings.bind_link(ctx.config.public_base_url, ctx.config.session_secret, openid)
    already = bindings.person_key_of(ctx.public_db, openid) is not None
    prefix = "您已绑定。如需改绑他人身份，" if already else ""
    return (f"{prefix}请点击下面的链接，在页面中填写身份证号码、姓名和社保卡号后4位完成绑定"
            f"（30分钟内有效）：\n{link}\n请不要在对话中发送身份证号码。")


def unbind_command(ctx: BotContext, openid: str, _rest: str) -> str:
    if bindings.unbind(ctx.public_db, openid):
        return "已解除绑定。需要时可发送“绑定”重新绑定。"
    return "您还没有绑定，无需解绑。"


def help_command(_ctx: BotContext, _openid: str, _rest: str) -> str:
    return HELP


def unknown(ctx: BotContext, text: str) -> str:
    found = search_policies(ctx, text) if text else ""
    if found:
        return "没有听懂您的指令。以下补贴政策可能与您的问题相关：\n" + found + "\n\n" + HELP
    return "没有听懂您的指令。\n" + HELP


COMMANDS = {
    "查询": latest,
    "最新": latest,
    "我的补贴": latest,
    "明白条": statement,
    "失败": failures,
    "政策": policy,
    "投诉": complaint,
    "举报": complaint,
    "绑定": bind_command,
    "解绑": unbind_command,
    "解除绑定": unbind_command,
    "帮助": help_command,
    "?": help_command,
    "菜单": help_command,
}
