"""The official account's custom menu (自定义菜单): CLICK keys the bot answers, and links.

``yikatong wechat menu`` prints :func:`menu_json`; ``--push`` sends it through wechatpy.
"""

from __future__ import annotations

from typing import Any

# CLICK event key → the text command it stands for (bot.commands answers both the same way).
CLICK_COMMANDS: dict[str, str] = {
    "LATEST": "查询",
    "STATEMENT": "明白条",
    "FAILURES": "失败",
    "BIND": "绑定",
    "UNBIND": "解绑",
    "POLICY": "政策",
    "HELP": "帮助",
}


def menu(base_url: str) -> dict[str, Any]:
    """The menu definition in WeChat's JSON shape (≤ 3 buttons, ≤ 5 sub-buttons each)."""
    base = base_url.rstrip("/")
    return {
        "button": [
            {
                "name": "我的补贴",
                "sub_button": [
                    {"type": "click", "name": "最新发放", "key": "LATEST"},
                    {"type": "click", "name": "明白条", "key": "STATEMENT"},
                    {"type": "click", "name": "发放失败", "key": "FAILURES"},
                ],
            },
            {
                "name": "政策公开",
                "sub_button": [
                    {"type": "view", "name": "补贴政策清单", "url": f"{base}/policies"},
                    {"type": "view", "name": "发放结果公示", "url": f"{base}/disclosures"},
                    {"type": "click", "name": "政策查询说明", "key": "POLICY"},
                ],
            },
            {
                "name": "服务",
                "sub_button": [
                    {"type": "click", "name": "绑定身份", "key": "BIND"},
                    {"type": "click", "name": "解除绑定", "key": "UNBIND"},
                    {"type": "view", "name": "投诉举报", "url": f"{base}/complaints/new"},
                    {"type": "click", "name": "使用帮助", "key": "HELP"},
                ],
            },
        ]
    }


MENU_HELP = (
    "菜单说明：\n"
    "【我的补贴】最新发放、明白条、发放失败（需先绑定）\n"
    "【政策公开】补贴政策清单、发放结果公示\n"
    "【服务】绑定身份、解除绑定、投诉举报、使用帮助"
)
