"""Fixtures for the WeChat bot: the real app over a seeded embedded index, and a client that
speaks WeChat's protocol (signed query strings; in safe mode, bodies encrypted with wechatpy's
``WeChatCrypto`` — the same library WeChat's own samples mirror)."""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any, Iterator

import pytest
import xmltodict
from starlette.testclient import TestClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.conftest import REDIS_URL  # noqa: F401  (the bot tests import it from here)
from tests.portal.conftest import (  # noqa: F401  (the portal's fixtures, shared)
    Seeded,
    _index_templates,
    search_engine,
    seed_index,
    seeded,
)

_msg_ids = itertools.count(int(time.time() * 1000))


def sign(token: str, *parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    return signer.signature


class WechatTester:
    """Sends what WeChat's servers would send and decodes the passive reply."""

    def __init__(self, client: TestClient, token: str, appid: str, aes_key: str, encrypt: bool) -> None:
        self.client = client
        self.token = token
        self.appid = appid
        self.encrypt = encrypt
        self.crypto = WeChatCrypto(token, aes_key, appid)

    def params(self, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(5)
        return {"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}

    def post_xml(self, xml: str | bytes, params: dict[str, str] | None = None):
        params = dict(params or self.params())
        body: str | bytes = xml
        if self.encrypt:
            envelope = self.crypto.encrypt_message(xml if isinstance(xml, str) else xml.decode(),
                                                   params["nonce"], params["timestamp"])
            parsed = xmltodict.parse(envelope)["xml"]
            params["encrypt_type"] = "aes"
            params["msg_signature"] = parsed["MsgSignature"]
            body = envelope
        return self.client.post("/wechat/", params=params, content=body,
                                headers={"Content-Type": "text/xml"})

    def decode(self, response) -> str:
        """The reply text ("" for "success")."""
        assert response.status_code == 200, response.status_code
        if response.text == "success":
            return ""
        xml = response.text
        if self.encrypt:
            outer = xmltodict.parse(xml)["xml"]
            assert "Encrypt" in outer, "reply not encrypted in safe mode"
            xml = self.crypto.decrypt_message(xml, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        reply = xmltodict.parse(xml)["xml"]
        assert reply["MsgType"] == "text"
        return reply["Content"]

    def text(self, openid: str, content: str, msg_id: int | None = None) -> str:
        return self.decode(self.post_xml(text_xml(openid, content, msg_id)))

    def click(self, openid: str, key: str) -> str:
        return self.decode(self.post_xml(event_xml(openid, "CLICK", key)))

    def event(self, openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
        return self.decode(self.post_xml(event_xml(openid, event, key, create_time)))


def text_xml(openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
    msg_id = next(_msg_ids) if msg_id is None else msg_id
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
    create_time = create_time or (int(time.time()) + next(_msg_ids) % 100000)
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def new_openid() -> str:
    return "o" + secrets.token_hex(13)


@pytest.fixture
def bot_app_factory(make_config, search_engine, seeded, public_db_url):  # noqa: F811
    from cli.apps import public_app
    from portal.store import PublicBase
    from core.db import Database

    db = Database(public_db_url)
    PublicBase.metadata.create_all(db.engine)
    db.dispose()
    clients: list[TestClient] = []

    def factory(**overrides: str) -> tuple[TestClient, Any]:
        config = make_config(**overrides)
        app = public_app(config, search=search_engine)
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client, config

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(params=["plain", "safe"])
def wx(request, bot_app_factory) -> Iterator[WechatTester]:
    """A WeChat tester in plain and in safe mode."""
    client, config = bot_app_factory(WECHAT_MODE=request.param)
    yield WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key,
                       encrypt=request.param == "safe")


@pytest.fixture
def wx_plain(bot_app_factory) -> WechatTester:
    client, config = bot_app_factory(WECHAT_MODE="plain")
    return WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=False)


def bot_runtime(tester: WechatTester):
    from bot.wechat import runtime

    return runtime(tester.client.app.state.services)


def bind_person(tester: WechatTester, openid: str, person) -> None:
    """Go through the binding flow as the person would: 绑定 → open link → fill in the form."""
    import re

    reply = tester.text(openid, "绑定")
    link = re.search(r"http://\S+/wechat/bind/\S+", reply).group()
    path = link.split("http://127.0.0.1:8000", 1)[-1]
    page = tester.client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = tester.client.post(path, data={"csrf_token": token, "id_number": person.id_number,
                                          "name": person.name, "card_digits": person.card_last4})
    assert done.status_code == 200, done.text
    assert "绑定成功" in done.text
