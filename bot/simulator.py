"""Play WeChat's servers against a running ``/wechat/`` endpoint: ``yikatong wechat say``.

In demo mode there is no WeChat account to send messages, so this builds what WeChat would
send — a text message or an event from one follower — signs it with the configured
``WECHAT_TOKEN`` (wechatpy's ``WeChatSigner``), encrypts it with ``WeChatCrypto`` in compatible
or safe mode, POSTs it with httpx, then checks and decrypts the passive reply with wechatpy
(``MsgSignature`` verified, AppID checked) and returns its text and the links in it.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

from core.config import Config

DEFAULT_OPENID = "demo-openid"
EVENTS = ("subscribe", "unsubscribe", "CLICK")
TIMEOUT = 10.0  # seconds; the server answers within 5 (WeChat's limit) or says "success"

_LINK = re.compile(r"https?://[^\s，。；）)]+")


class SimulatorError(Exception):
    """An expected failure (server down, refused, bad reply): a Chinese message for the user."""


@dataclass(frozen=True)
class Reply:
    text: str  # "" when the server answered "success" (nothing now, maybe a message later)
    links: list[str]


@dataclass(frozen=True)
class Simulator:
    token: str
    appid: str
    aes_key: str | None
    mode: str  # plain | compatible | safe
    url: str  # the /wechat/ endpoint

    @classmethod
    def from_config(cls, config: Config, base_url: str | None = None) -> "Simulator":
        if not config.wechat_token:
            raise SimulatorError("未设置 WECHAT_TOKEN，公众号接口未启用"
                                 "（演示模式请设置 YIKATONG_DEMO=1，并在与服务相同的目录下运行）。")
        base = (base_url or config.public_base_url or "http://127.0.0.1:8000").rstrip("/")
        return cls(token=config.wechat_token, appid=config.wechat_appid or "", aes_key=config.wechat_aes_key,
                   mode=config.wechat_mode, url=base + "/wechat/")

    @property
    def encrypted(self) -> bool:
        return self.mode in ("compatible", "safe")

    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.appid)

    # --- what WeChat sends -----------------------------------------------------------------

    def message_xml(self, openid: str, text: str | None = None, event: str | None = None,
                    key: str = "") -> str:
        """The inner XML of a text message, or of an event when ``event`` is given."""
        now = int(time.time())
        fields: dict[str, object] = {"ToUserName": "gh_demo", "FromUserName": openid, "CreateTime": now}
        if event:
            fields.update(MsgType="event", Event=event, EventKey=key)
        else:
            # A fresh MsgId each time, so the server's de-duplication never takes it for a retry.
            fields.update(MsgType="text", Content=text or "", MsgId=now * 1_000_000 + secrets.randbelow(1_000_000))
        return xmltodict.unparse({"xml": fields}, full_document=False)

    def signed_request(self, xml: str, openid: str) -> tuple[dict[str, str], str]:
        """(query parameters, body) as WeChat's servers would POST them."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(5)
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        params = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce,
                  "openid": openid}
        if not self.encrypted:
            return params, xml
        envelope = self.crypto().encrypt_message(xml, nonce, timestamp)
        params.update(encrypt_type="aes", msg_signature=xmltodict.parse(envelope)["xml"]["MsgSignature"])
        return params, envelope

    # --- the exchange ----------------------------------------------------------------------

    def say(self, openid: str, text: str | None = None, event: str | None = None, key: str = "",
            client: httpx.Client | None = None) -> Reply:
        params, body = self.signed_request(self.message_xml(openid, text, event, key), openid)
        own = client is None
        client = client or httpx.Client(timeout=TIMEOUT)
        try:
            response = client.post(self.url, params=params, content=body.encode("utf-8"),
                                   headers={"Content-Type": "text/xml; charset=utf-8"})
        except httpx.ConnectError:
            raise SimulatorError(f"无法连接 {self.url}：服务没有运行？请先在另一个终端运行 make run，"
                                 "或用 --url 指定服务地址。") from None
        except httpx.TimeoutException:
            raise SimulatorError(f"{self.url} 在 {TIMEOUT:.0f} 秒内没有答复。") from None
        except httpx.HTTPError as exc:
            raise SimulatorError(f"请求 {self.url} 失败（{type(exc).__name__}）。") from None
        finally:
            if own:
                client.close()
        return self.read_reply(response, openid)

    def read_reply(self, response: httpx.Response, openid: str) -> Reply:
        status = response.status_code
        if status == 404:
            raise SimulatorError(f"{self.url} 返回 404：服务端未启用公众号（没有 WECHAT_TOKEN），或地址不对。")
        if status == 403:
            raise SimulatorError(f"{self.url} 拒绝了签名（403）：本机的 WECHAT_TOKEN / WECHAT_AES_KEY / "
                                 f"WECHAT_MODE（{self.mode}）与服务端不一致？请在与服务相同的目录和环境下运行。")
        if status != 200:
            raise SimulatorError(f"{self.url} 返回 HTTP {status}。")
        body = response.text
        if body.strip() in ("", "success"):
            return Reply("", [])
        try:
            outer = xmltodict.parse(body)["xml"]
            if self.encrypted:
                if "Encrypt" not in outer:
                    raise SimulatorError("服务端的答复没有加密，但当前是加密模式。")
                inner = self.crypto().decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"],
                                                      outer["Nonce"])
                outer = xmltodict.parse(inner)["xml"]
        except (InvalidSignatureException, InvalidAppIdException):
            raise SimulatorError("答复的签名或 AppID 校验失败。") from None
        except SimulatorError:
            raise
        except Exception:
            raise SimulatorError("无法解析服务端的答复（不是微信被动回复 XML）。") from None
        if outer.get("ToUserName") != openid or outer.get("MsgType") != "text":
            raise SimulatorError("答复不是发给该用户的文本消息。")
        text = outer.get("Content") or ""
        return Reply(text, _LINK.findall(text))

