"""Messages the bot sends on its own (not as the passive reply): late answers and notices.

One interface, two implementations (as warehouse does for its services):

* :class:`WechatSender` — the customer-service message API and template messages through
  wechatpy's ``WeChatClient``; the access token is cached in Redis (wechatpy ``RedisStorage``)
  when ``REDIS_URL`` is set, so several processes share one token, else in process memory.
* :class:`SandboxSender` — records and logs what would be sent; the default without
  ``WECHAT_SECRET`` (demo, tests, a server not yet approved by WeChat).

Logs name the recipient by a short digest of the openid and never hold message text.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from bot.dedup import redis_prefix
from core.config import Config

log = logging.getLogger("yikatong.bot")


class SendError(Exception):
    """WeChat refused or could not be reached; the message stays queued for another try."""


def openid_tag(openid: str) -> str:
    """A short, non-reversible tag of an openid for logs."""
    return hashlib.sha256(openid.encode()).hexdigest()[:10]


class Sender(Protocol):
    def send_text(self, openid: str, text: str) -> None: ...

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None) -> None: ...


@dataclass
class SentMessage:
    openid: str
    kind: str  # "text" | "template"
    text: str = ""
    template_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    url: str | None = None


class SandboxSender:
    """Keeps what it would have sent (``sent``) and logs one line per message."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self._lock = threading.Lock()

    def send_text(self, openid: str, text: str) -> None:
        with self._lock:
            self.sent.append(SentMessage(openid, "text", text=text))
        log.info("sandbox: text message to %s (%d chars)", openid_tag(openid), len(text))

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None) -> None:
        with self._lock:
            self.sent.append(SentMessage(openid, "template", template_id=template_id, data=data, url=url))
        log.info("sandbox: template message to %s", openid_tag(openid))


class WechatSender:
    """The real thing: wechatpy ``WeChatClient`` (customer-service and template messages)."""

    def __init__(self, appid: str, secret: str, *, session=None, api_base_url: str | None = None,
                 timeout: float = 5.0) -> None:
        class Client(WeChatClient):
            def fetch_access_token(self):
                # wechatpy's own URL, but relative to API_BASE_URL (a test or proxy may move it).
                return self._fetch_access_token(
                    url=self.API_BASE_URL + "token",
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                )

        self.client = Client(appid, secret, session=session, timeout=timeout)
        if api_base_url:
            self.client.API_BASE_URL = api_base_url.rstrip("/") + "/"

    def send_text(self, openid: str, text: str) -> None:
        self._call(self.client.message.send_text, openid, text)

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None) -> None:
        if not template_id:
            # No template configured: the same facts as a customer-service text message.
            text = "\n".join(f"{value['value']}" for value in data.values())
            self.send_text(openid, text)
            return
        self._call(self.client.message.send_template, openid, template_id, data, url)

    def push_menu(self, menu: dict[str, Any]) -> None:
        self._call(self.client.menu.create, menu)

    def _call(self, fn, *args) -> None:
        try:
            fn(*args)
        except WeChatClientException as exc:
            log.warning("wechat send failed: errcode %s", exc.errcode)
            raise SendError(f"微信接口返回错误 {exc.errcode}") from None
        except Exception as exc:  # network errors from requests
            log.warning("wechat send failed: %s", type(exc).__name__)
            raise SendError("无法连接微信接口") from None


def token_storage(config: Config):
    """Where wechatpy keeps the access token: Redis when configured, else process memory."""
    if config.redis_url:
        # Lazy on purpose: the redis client (~0.1 s to import) is a heavy optional dependency, only
        # needed when REDIS_URL is set.
        import redis

        return RedisStorage(redis.Redis.from_url(config.redis_url), prefix=redis_prefix(config) + "token")
    return MemoryStorage()


def make_sender(config: Config) -> Sender:
    """``WechatSender`` when AppID and AppSecret are configured, else ``SandboxSender``."""
    if config.wechat_appid and config.wechat_secret:
        return WechatSender(config.wechat_appid, config.wechat_secret, session=token_storage(config))
    return SandboxSender()
