"""The WeChat official-account endpoint, mounted at ``/wechat`` where the public app is assembled
(:mod:`cli.apps`).

* ``GET  /wechat/`` — URL verification (signature, timestamp, nonce → echostr).
* ``POST /wechat/`` — messages and events, in plain, compatible or safe (AES) mode
  (``WECHAT_MODE``); the answer is the passive reply.
* ``GET/POST /wechat/bind/{state}`` — the binding page (:mod:`bot.bindings`).

Order of checks for a message: body size (64 KB → 413), signature and timestamp skew
(→ 403), hostile or malformed XML (→ 400), then de-duplication: WeChat retries a message three
times when it has no answer within 5 s, so a message is processed once and every retry gets the
same reply. An answer not ready within :data:`ANSWER_DEADLINE` seconds is replied "success" and
sent later through the customer-service message API (:mod:`bot.sender`). A failure while
answering is logged (its type, never the message) and answered "success": WeChat never sees a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot import bindings, commands
from bot.dedup import Dedup, KeyValueStore, make_store, message_key
from bot.protocol import MAX_BODY, ProtocolError, WechatSettings, check_request, decode_message, render_reply
from bot.sender import Sender, make_sender, openid_tag
from core.web import route
from portal.services import PublicServices, services

log = logging.getLogger("yikatong.bot")

ANSWER_DEADLINE = 4.0  # seconds; WeChat gives up (and retries) after 5
RETRY_WAIT = 4.0  # how long a retry waits for the first delivery's answer


@dataclass
class BotRuntime:
    """Per-app state of the bot, built on first use and kept in ``services.extras``."""

    settings: WechatSettings
    context: commands.BotContext
    store: KeyValueStore
    dedup: Dedup
    sender: Sender
    deadline: float = ANSWER_DEADLINE
    processed: int = 0  # messages answered (not counting retries)
    late: int = 0  # answers sent through the sender after the deadline
    _tasks: set = field(default_factory=set)


def runtime(svc: PublicServices) -> BotRuntime:
    bot = svc.extras.get("wechat")
    if bot is None:
        config = svc.config
        settings = WechatSettings(token=config.wechat_token or "", appid=config.wechat_appid or "",
                                  aes_key=config.wechat_aes_key, mode=config.wechat_mode)
        store = make_store(config)
        bot = BotRuntime(settings=settings,
                         context=commands.BotContext(config, svc.public_db, svc.search),
                         store=store, dedup=Dedup(store), sender=make_sender(config))
        svc.extras["wechat"] = bot
    return bot


def _refuse(exc: ProtocolError) -> Response:
    log.warning("wechat request refused (%d): %s", exc.status, exc.reason)
    return Response(b"", status_code=exc.status)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise ProtocolError(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ProtocolError(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


async def verify(request: Request) -> Response:
    bot = runtime(services(request))
    if not bot.settings.token:
        return Response(b"", status_code=404)
    params = _params(request)
    try:
        check_request(bot.settings, params)
    except ProtocolError as exc:
        return _refuse(exc)
    return PlainTextResponse(params.get("echostr", ""))


async def receive(request: Request) -> Response:
    bot = runtime(services(request))
    if not bot.settings.token:
        return Response(b"", status_code=404)
    params = _params(request)
    try:
        body = await _read_body(request)
        check_request(bot.settings, params)
        message, encrypted = decode_message(bot.settings, params, body)
    except ProtocolError as exc:
        return _refuse(exc)

    key = message_key(message)
    if bot.dedup.claim(key):
        text = await _answer(bot, message, key)
    else:
        text = await _answer_of_retry(bot, key)
    try:
        body_text, media_type = render_reply(bot.settings, message, text, encrypted, params.get("nonce", ""))
    except Exception as exc:  # pragma: no cover - rendering a text reply does not fail
        log.error("wechat reply rendering failed: %s", type(exc).__name__)
        return PlainTextResponse("success")
    return Response(body_text, media_type=media_type)


async def _answer(bot: BotRuntime, message, key: str) -> str:
    bot.processed += 1
    task = asyncio.ensure_future(run_in_threadpool(commands.answer, bot.context, message))
    try:
        text = await asyncio.wait_for(asyncio.shield(task), timeout=bot.deadline)
    except asyncio.TimeoutError:
        # Too slow for the passive reply: say "success" now (also to the retries), send later.
        await run_in_threadpool(bot.dedup.remember, key, "")
        late = asyncio.ensure_future(_send_late(bot, task, message.source or ""))
        bot._tasks.add(late)
        late.add_done_callback(bot._tasks.discard)
        return ""
    except Exception as exc:
        log.error("wechat answer failed: %s", type(exc).__name__)
        text = ""
    await run_in_threadpool(bot.dedup.remember, key, text)
    return text


async def _send_late(bot: BotRuntime, task: asyncio.Future, openid: str) -> None:
    try:
        text = await task
        if text:
            await run_in_threadpool(bot.sender.send_text, openid, text)
            bot.late += 1
    except Exception as exc:
        log.error("wechat late answer to %s failed: %s", openid_tag(openid), type(exc).__name__)


async def _answer_of_retry(bot: BotRuntime, key: str) -> str:
    """The reply of a message already being processed (waits a little for it), else ""."""
    loop = asyncio.get_running_loop()
    until = loop.time() + RETRY_WAIT
    while True:
        cached = await run_in_threadpool(bot.dedup.cached, key)
        if cached is not None or loop.time() >= until:
            return cached or ""
        await asyncio.sleep(0.05)


def routes() -> list[BaseRoute]:
    return [
        *route("/", verify, name="wechat_verify", methods=["GET"]),
        *route("/", receive, name="wechat_receive", methods=["POST"]),
        *bindings.routes(),
    ]
