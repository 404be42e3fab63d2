"""Hostile and broken requests: refused before any parser can be abused, never a traceback."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from tests.bot.conftest import bot_runtime, new_openid, text_xml

XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_test</ToUserName><FromUserName>ohacker</FromUserName><CreateTime>{t}</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_test</ToUserName><FromUserName>ohacker</FromUserName><CreateTime>{t}</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>2</MsgId></xml>"""


@pytest.fixture
def canary_server():
    """A local HTTP server that records every request: an external entity must never reach it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"CANARY-SECRET")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_xxe_payload_is_refused_without_reading_the_file(wx) -> None:
    response = wx.post_xml(XXE_FILE.format(t=int(time.time())))
    assert response.status_code == 400
    assert "root:" not in response.text
    assert bot_runtime(wx).processed == 0


def test_external_entity_over_http_is_never_fetched(wx, canary_server) -> None:
    url, hits = canary_server
    payload = XXE_FILE.format(t=int(time.time())).replace("file:///etc/passwd", url + "/xxe")
    response = wx.post_xml(payload)
    assert response.status_code == 400
    assert "CANARY" not in response.text
    # A parameter entity (out-of-band XXE) and a DTD without DOCTYPE keyword case tricks too.
    for body in (f'<!doctype xml SYSTEM "{url}/dtd"><xml><MsgType>text</MsgType></xml>',
                 f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "{url}/p"> %p;]><xml/>'):
        assert wx.post_xml(body).status_code == 400
    time.sleep(0.1)
    assert hits == []


def test_billion_laughs_is_refused_quickly(wx) -> None:
    started = time.perf_counter()
    response = wx.post_xml(BILLION_LAUGHS.format(t=int(time.time())))
    assert response.status_code == 400
    # Expanding it would take minutes and gigabytes; refusing it takes milliseconds. The generous
    # bound only tells the two apart (the suite shares 2 cores), it does not measure speed.
    assert time.perf_counter() - started < 10.0
    assert bot_runtime(wx).processed == 0


def test_oversized_body_is_refused(wx_plain) -> None:
    big = text_xml(new_openid(), "帮" * 30_000)  # ~90 KB in UTF-8
    assert wx_plain.post_xml(big).status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(100):
            yield b"<xml>" + b"a" * 1000

    response = wx_plain.client.post("/wechat/", params=wx_plain.params(), content=chunks())
    assert response.status_code == 413
    assert bot_runtime(wx_plain).processed == 0


@pytest.mark.parametrize("body", [
    b"",
    b"hello",
    b"<xml><MsgType>text</MsgType>",
    b"<xml></xml>",
    b"<notxml><MsgType>text</MsgType></notxml>",
    b"<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime></xml>",
    "<xml><MsgType>text</MsgType><Content>\udcff</Content></xml>".encode("utf-8", "surrogatepass"),
    b"\xff\xfe<\x00x\x00",
])
def test_malformed_bodies_get_400_not_a_traceback(wx_plain, body: bytes) -> None:
    response = wx_plain.post_xml(body)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert bot_runtime(wx_plain).processed == 0


def test_garbage_ciphertext_in_safe_mode_gets_400(bot_app_factory) -> None:
    from tests.bot.conftest import WechatTester, sign

    client, config = bot_app_factory(WECHAT_MODE="safe")
    tester = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=True)
    params = tester.params()
    for encrypt in ("bm90IGEgY2lwaGVydGV4dA==", "!!!", "A" * 64):
        signature = sign(config.wechat_token, params["timestamp"], params["nonce"], encrypt)
        body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        response = client.post("/wechat/", params={**params, "encrypt_type": "aes", "msg_signature": signature},
                               content=body)
        assert response.status_code == 400


def test_hostile_xml_inside_the_encrypted_message_is_refused(bot_app_factory) -> None:
    from tests.bot.conftest import WechatTester

    client, config = bot_app_factory(WECHAT_MODE="safe")
    tester = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=True)
    response = tester.post_xml(XXE_FILE.format(t=int(time.time())))
    assert response.status_code == 400
    assert "root:" not in response.text


def test_other_message_types_get_the_help(wx_plain) -> None:
    xml = (f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{new_openid()}</FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
           "<PicUrl>http://example.invalid/a.jpg</PicUrl><MediaId>m</MediaId><MsgId>55501</MsgId></xml>")
    assert "只能处理文字消息" in wx_plain.decode(wx_plain.post_xml(xml))


def test_endpoint_is_off_without_a_token(make_config, search_engine, public_db) -> None:
    from starlette.testclient import TestClient

    from cli.apps import public_app

    config = make_config(WECHAT_TOKEN="")
    with TestClient(public_app(config, search=search_engine)) as client:
        assert client.get("/wechat/", params={"echostr": "x"}).status_code == 404
