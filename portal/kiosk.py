"""Village kiosk (自助查询终端): the touch UI (`/kiosk`) and the signed kiosk API (`/kiosk/api/…`).

Two ways in, one lookup (docs/kiosk.md has the protocol for terminal vendors):

* **Signed API** — the vendor's own software calls ``POST /kiosk/api/lookup`` and
  ``GET /kiosk/api/ping``; every request is signed with the device secret
  (:mod:`portal.kiosk_devices`). Refusals have stable codes: ``unknown_device``,
  ``device_disabled``, ``bad_signature``, ``stale_timestamp``, ``nonce_reused`` …
* **Touch UI** — the browser on the terminal never holds the secret. At boot the vendor shell
  (which keeps the secret outside the page) opens a one-time signed start link
  ``/kiosk/start?device=…&ts=…&nonce=…&sig=…``; the server checks it like an API request and sets
  an httpOnly, SameSite=Strict device cookie bound to the current secret (re-keying or disabling
  the device ends the session). The page then POSTs lookups to ``/kiosk/lookup`` (same origin,
  cookie + a CSRF header derived from it). In demo mode ``/kiosk`` opens a demo device session by
  itself, so the kiosk can be tried in a desktop browser.
* **Simulated card reader** — when the app is given a sample-people provider
  (``PublicServices.sample_people``, attached by the assembler in demo mode), the start screen
  offers "模拟刷身份证", handing out those people in turn (``GET /kiosk/demo-people``); in demo
  mode it also lists them. Without a provider there is no simulated reader.

Both paths share the rate limits of the personal query (per device instead of per address,
per person key for wrong factors), count the query on the device, and answer ``no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from core.db import Database
from core.timeutil import format_datetime_zh, now
from core.web import NO_STORE, json_response, json_route, path_for, route
from portal import kiosk_devices
from portal.errors import PublicError, parse_json_body
from portal.kiosk_devices import DeviceInfo, KioskAuthError
from portal.lookup import NOT_FOUND_MESSAGE, PersonPayments, guarded_lookup
from portal.ratelimit import read_body_limited
from portal.services import PublicServices, services

__all__ = ["DEFAULT_IDLE_SECONDS", "SESSION_COOKIE", "lookup_payload", "routes", "sample_people", "start_url"]

log = logging.getLogger("yikatong.portal.kiosk")

SESSION_COOKIE = "yk_kiosk"
SESSION_MAX_AGE = 7 * 24 * 3600  # the vendor shell opens a fresh start link at every boot
CSRF_HEADER = "x-kiosk-csrf"
MAX_BODY = 4096
DEFAULT_IDLE_SECONDS = 60
IDLE_RANGE = (2, 600)
PAPERS = ("a4", "receipt")
DEMO_DEVICE_NAME = "演示终端"


# --- shared lookup --------------------------------------------------------------------------


def _factors(payload: Any) -> dict[str, str]:
    """The lookup factors from a JSON body, or a 400/422 PublicError (nothing looked up)."""
    if not isinstance(payload, dict):
        raise PublicError(400, "invalid_json", "请求内容应为JSON对象。", headers=NO_STORE)
    values: dict[str, str] = {}
    for key in ("id_number", "name", "card_digits", "card_number"):
        value = payload.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 64:
            raise PublicError(422, "invalid_input", "填写的内容有误，请检查后重试。",
                              fields={key: "格式不正确"}, headers=NO_STORE)
        values[key] = value.strip()
    if not values.get("id_number"):
        raise PublicError(422, "missing_id_number", "请先刷身份证或输入身份证号码。",
                          fields={"id_number": "请刷身份证或输入身份证号码"}, headers=NO_STORE)
    if "card_number" in values:
        digits = values["card_number"].replace(" ", "")
        if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
            raise PublicError(422, "invalid_card_number", "社保卡卡号应为12到19位数字，请核对后重新输入。",
                              fields={"card_number": "社保卡卡号应为12到19位数字"}, headers=NO_STORE)
        return {"id_number": values["id_number"], "card_number": digits, "name": values.get("name", "")}
    if not values.get("name"):
        raise PublicError(422, "missing_name", "没有读到姓名，请重新刷身份证。",
                          fields={"name": "请刷身份证"}, headers=NO_STORE)
    if not values.get("card_digits"):
        raise PublicError(422, "missing_factor", "请输入社保卡卡号的后4位数字。",
                          fields={"card_digits": "请输入社保卡卡号后4位"}, headers=NO_STORE)
    return {"id_number": values["id_number"], "name": values["name"], "card_digits": values["card_digits"]}


def lookup_payload(person: PersonPayments, device: DeviceInfo) -> dict[str, Any]:
    """What both the API and the touch UI get: the personal query's JSON plus statements.

    ``statements``: one per year with paid lines (明白条: name, each project, department,
    period, date, amount and the total), ready to print.
    """
    data = person.to_dict()
    statements = []
    for year in person.years:
        if not year.paid:
            continue
        statements.append({
            "year": year.year,
            "name": person.name,
            "lines": [{
                "project_name": item.project_name, "department": item.department, "period": item.period,
                "date": item.date.isoformat() if item.date else None, "date_zh": item.date_zh,
                "amount": f"{item.amount:.2f}",
            } for item in year.paid],
            "total": f"{year.total_paid:.2f}",
        })
    data["statements"] = statements
    data["printed_at"] = format_datetime_zh(now())
    data["kiosk"] = {"name": device.name, "location": device.location}
    return data


async def _lookup(request: Request, device: DeviceInfo, payload: Any) -> Response:
    factors = _factors(payload)
    svc = services(request)
    try:
        person = await guarded_lookup(request, client="kiosk:" + device.device_id, **factors)
    finally:
        # A query is counted even when refused or not found: the counter measures use, not hits.
        await run_in_threadpool(kiosk_devices.record_query, svc.public_db, device.device_id)
    if person is None:
        raise PublicError(404, "not_found", NOT_FOUND_MESSAGE, headers=NO_STORE)
    return json_response(lookup_payload(person, device), headers=NO_STORE)


def _json(body: bytes) -> Any:
    return parse_json_body(body, NO_STORE)


# --- signed API -----------------------------------------------------------------------------


def _signed_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


async def _verify_signed(request: Request, body: bytes) -> DeviceInfo:
    svc = services(request)
    headers = request.headers
    try:
        return await run_in_threadpool(
            kiosk_devices.verify_request, svc.public_db,
            device_id=headers.get("x-kiosk-device"), timestamp=headers.get("x-kiosk-timestamp"),
            nonce=headers.get("x-kiosk-nonce"), signature=headers.get("x-kiosk-signature"),
            method=request.method, path=_signed_path(request), body=body,
        )
    except KioskAuthError as exc:
        log.info("kiosk request refused: %s", exc.code)
        raise PublicError(exc.status, exc.code, exc.message, headers=NO_STORE) from None


async def api_lookup(request: Request) -> Response:
    body = await read_body_limited(request, MAX_BODY)
    device = await _verify_signed(request, body)
    return await _lookup(request, device, _json(body))


async def api_ping(request: Request) -> Response:
    device = await _verify_signed(request, b"")
    svc = services(request)
    await run_in_threadpool(kiosk_devices.touch_device, svc.public_db, device.device_id)
    return json_response({
        "ok": True, "device_id": device.device_id, "name": device.name, "enabled": device.enabled,
        "server_time": int(now().timestamp()), "query_count": device.query_count,
    }, headers=NO_STORE)


# --- touch-UI session -----------------------------------------------------------------------


def _serializer(svc: PublicServices) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(svc.config.session_secret, salt="yikatong-kiosk-session")


def _csrf_for(svc: PublicServices, cookie: str) -> str:
    key = hashlib.sha256(b"kiosk-csrf\x1f" + svc.config.session_secret.encode()).digest()
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()


def _session_cookie(svc: PublicServices, device: DeviceInfo) -> str:
    return _serializer(svc).dumps({"d": device.device_id, "f": device.key_fingerprint})


def _set_session(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/kiosk")


async def _session_device(request: Request) -> DeviceInfo | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 400:
        return None
    svc = services(request)
    try:
        data = _serializer(svc).loads(cookie, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str) or not isinstance(data.get("f"), str):
        return None
    return await run_in_threadpool(kiosk_devices.lookup_for_session, svc.public_db, data["d"], data["f"])


def _ui_params(request: Request) -> dict[str, str]:
    """The page settings a terminal may put on its start link: idle seconds and paper size."""
    params: dict[str, str] = {}
    idle = request.query_params.get("idle", "")
    if idle.isascii() and idle.isdigit():
        params["idle"] = str(min(max(int(idle), IDLE_RANGE[0]), IDLE_RANGE[1]))
    paper = request.query_params.get("paper", "")
    if paper in PAPERS:
        params["paper"] = paper
    return params


def start_url(device_id: str, secret: str, *, base: str = "", timestamp: int | None = None,
              nonce: str | None = None, **ui: str) -> str:
    """A signed one-time start link for the touch UI (what the vendor shell opens at boot)."""
    ts = int(now().timestamp()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    sig = kiosk_devices.sign(secret, "GET", "/kiosk/start", ts, nonce, b"")
    query = {"device": device_id, "ts": str(ts), "nonce": nonce, "sig": sig, **ui}
    return f"{base}/kiosk/start?{urlencode(query)}"


async def start(request: Request) -> Response:
    svc = services(request)
    q = request.query_params
    try:
        device = await run_in_threadpool(
            kiosk_devices.verify_request, svc.public_db,
            device_id=q.get("device"), timestamp=q.get("ts"), nonce=q.get("nonce"), signature=q.get("sig"),
            method="GET", path="/kiosk/start", body=b"",
        )
    except KioskAuthError as exc:
        log.info("kiosk start refused: %s", exc.code)
        raise PublicError(exc.status, exc.code, exc.message, headers=NO_STORE) from None
    await run_in_threadpool(kiosk_devices.touch_device, svc.public_db, device.device_id)
    params = _ui_params(request)
    response = RedirectResponse(path_for(request, "kiosk") + ("?" + urlencode(params) if params else ""),
                                status_code=303, headers=NO_STORE)
    _set_session(request, response, _session_cookie(svc, device))
    return response


def _demo_device(db: Database) -> DeviceInfo:
    for info in kiosk_devices.list_devices(db):
        if info.name == DEMO_DEVICE_NAME and info.enabled:
            return info
    info, _ = kiosk_devices.register_device(db, name=DEMO_DEVICE_NAME, location="演示用村便民服务中心",
                                            region_code="410423204201", contact="")
    return info


async def page(request: Request) -> Response:
    svc = services(request)
    device = await _session_device(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    new_cookie = None
    if device is None and svc.config.demo:
        device = await run_in_threadpool(_demo_device, svc.public_db)
        cookie = new_cookie = _session_cookie(svc, device)
    if device is None:
        raise PublicError(401, "kiosk_not_started",
                          "本终端尚未登录。请重新启动终端；如仍不能使用，请联系终端管理员。", headers=NO_STORE)
    params = _ui_params(request)
    context = {
        "device": device,
        "csrf": _csrf_for(svc, cookie),
        "idle_seconds": int(params.get("idle", DEFAULT_IDLE_SECONDS)),
        "paper": params.get("paper", "a4"),
        "demo_reader": svc.sample_people is not None,
        # The list on the start screen is a demo-mode page (under the 演示数据 banner).
        "demo_people": await run_in_threadpool(sample_people, svc) if svc.config.demo else [],
    }
    response = request.app.state.templates.TemplateResponse(request, "kiosk.html", context, headers=NO_STORE)
    if new_cookie:
        _set_session(request, response, new_cookie)
    return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin:
        return True  # same-origin fetches without Origin (older engines); the CSRF header still applies
    return origin == f"{request.url.scheme}://{request.url.netloc}"


async def ui_lookup(request: Request) -> Response:
    device = await _session_device(request)
    if device is None:
        raise PublicError(401, "kiosk_session", "本终端登录已失效，请重新启动终端。", headers=NO_STORE)
    svc = services(request)
    token = request.headers.get(CSRF_HEADER, "")
    expected = _csrf_for(svc, request.cookies.get(SESSION_COOKIE, ""))
    if not _same_origin(request) or not hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode()):
        raise PublicError(403, "csrf_failed", "页面校验未通过，请返回首页重新查询。", headers=NO_STORE)
    body = await read_body_limited(request, MAX_BODY)
    return await _lookup(request, device, _json(body))


# --- simulated reader (demo) ----------------------------------------------------------------


def sample_people(svc: PublicServices) -> list[dict[str, str]]:
    """The people the simulated reader hands out, from the app's sample-people provider
    (empty without one, or when it cannot be read)."""
    if svc.sample_people is None:
        return []
    try:
        people = list(svc.sample_people() or [])
    except (OSError, ValueError) as exc:
        log.warning("sample people unavailable: %s", type(exc).__name__)
        return []
    out = []
    for person in people:
        id_number, name = _field(person, "id_number"), _field(person, "name")
        if not id_number or not name:
            continue
        card = _field(person, "card_number")
        out.append({"id_number": id_number, "name": name, "card_number": card,
                    "card_last4": card[-4:] if card else _field(person, "card_last4", "card_digits"),
                    "note": _field(person, "shows", "note")})
    return out


def _field(person: Any, *names: str) -> str:
    for name in names:
        value = person.get(name) if isinstance(person, dict) else None
        if value:
            return str(value)
    return ""


async def demo_people(request: Request) -> Response:
    svc = services(request)
    if await _session_device(request) is None:
        raise PublicError(401, "kiosk_session", "本终端登录已失效，请重新启动终端。", headers=NO_STORE)
    people = await run_in_threadpool(sample_people, svc)
    return json_response({"people": people}, headers=NO_STORE)


def routes() -> list[BaseRoute]:
    return [
        *route("/kiosk", page, name="kiosk", methods=["GET"]),
        *route("/kiosk/start", start, name="kiosk_start", methods=["GET"]),
        # The touch UI's fetch endpoints and the signed API answer JSON only (errors too).
        json_route("/kiosk/lookup", ui_lookup, name="kiosk_lookup", methods=["POST"]),
        json_route("/kiosk/demo-people", demo_people, name="kiosk_demo_people", methods=["GET"]),
        json_route("/kiosk/api/lookup", api_lookup, name="kiosk_api_lookup", methods=["POST"]),
        json_route("/kiosk/api/ping", api_ping, name="kiosk_api_ping", methods=["GET"]),
    ]
