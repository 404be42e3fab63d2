"""The WeChat server protocol, on wechatpy: signatures, plain/compatible/safe mode, safe XML.

Nothing here is hand-written crypto or XML parsing: signatures are ``wechatpy.utils.check_signature``,
AES is ``wechatpy.crypto.WeChatCrypto``, messages are ``wechatpy.parse_message`` and replies
``wechatpy.replies.create_reply``. What this module adds is the guard in front of them:

* a body size limit (:data:`MAX_BODY`);
* timestamps more than :data:`MAX_SKEW` seconds away from now are refused (replays);
* XML with a DTD, entity declarations or processing instructions is refused *before* any parser
  sees it (no XXE, no entity expansion), then checked by ``defusedxml`` as a second layer — both
  for the envelope and for the decrypted inner message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

MAX_BODY = 64 * 1024
MAX_SKEW = 300  # seconds

_FORBIDDEN = re.compile(rb"<!DOCTYPE|<!ENTITY|<!ELEMENT|<!ATTLIST|<\?xml-stylesheet|SYSTEM\s+[\"']", re.I)


class ProtocolError(Exception):
    """A request WeChat did not send as it should: answered with ``status`` and no detail."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason  # for logs: a fixed English phrase, never request content


@dataclass(frozen=True)
class WechatSettings:
    token: str
    appid: str
    aes_key: str | None
    mode: str  # plain | compatible | safe

    def crypto(self) -> WeChatCrypto:
        if not self.aes_key:
            raise ProtocolError(403, "encrypted message but no AES key configured")
        return WeChatCrypto(self.token, self.aes_key, self.appid)


def check_request(settings: WechatSettings, params: dict[str, str], now: float | None = None) -> None:
    """Signature over token+timestamp+nonce and a fresh timestamp, else ProtocolError(403)."""
    signature = params.get("signature", "")
    timestamp = params.get("timestamp", "")
    nonce = params.get("nonce", "")
    if not (signature and timestamp and nonce) or not timestamp.isdigit() or len(timestamp) > 12:
        raise ProtocolError(403, "missing or malformed signature parameters")
    try:
        check_signature(settings.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise ProtocolError(403, "bad signature") from None
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_SKEW:
        raise ProtocolError(403, "stale timestamp")


def safe_xml(body: bytes) -> dict[str, Any]:
    """Parse a WeChat XML document into the ``<xml>`` element's fields, refusing hostile XML."""
    if not body or len(body) > MAX_BODY:
        raise ProtocolError(413 if body else 400, "empty or oversized body")
    if _FORBIDDEN.search(body):
        raise ProtocolError(400, "DTD or entity declaration in XML")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeET.ParseError, ValueError):
        raise ProtocolError(400, "malformed XML") from None
    if root.tag != "xml" or len(root) == 0:
        raise ProtocolError(400, "not a WeChat message")
    fields: dict[str, Any] = {}
    for child in root:
        if len(child):  # nested elements (e.g. ScanCodeInfo): keep the children's text
            fields[child.tag] = {sub.tag: (sub.text or "") for sub in child}
        else:
            fields[child.tag] = child.text or ""
    return fields


def decode_message(settings: WechatSettings, params: dict[str, str], body: bytes):
    """The parsed wechatpy message and whether the reply must be encrypted."""
    envelope = safe_xml(body)
    encrypted = params.get("encrypt_type", "raw").lower() == "aes"
    if settings.mode == "safe" and not encrypted:
        raise ProtocolError(403, "plain message in safe mode")
    if settings.mode == "plain" and encrypted:
        raise ProtocolError(403, "encrypted message in plain mode")
    if encrypted:
        if "Encrypt" not in envelope:
            raise ProtocolError(400, "no Encrypt element")
        try:
            inner = settings.crypto().decrypt_message(
                {"Encrypt": envelope["Encrypt"]}, params.get("msg_signature", ""),
                params.get("timestamp", ""), params.get("nonce", ""),
            )
        except InvalidSignatureException:
            raise ProtocolError(403, "bad message signature") from None
        except InvalidAppIdException:
            raise ProtocolError(403, "message for another AppID") from None
        except Exception:  # padding/base64 errors of a forged ciphertext
            raise ProtocolError(400, "undecryptable message") from None
        raw = inner.encode("utf-8")
        safe_xml(raw)  # the same guard on the decrypted document
    else:
        raw = body
    if "MsgType" not in (safe_xml(raw) if encrypted else envelope):
        raise ProtocolError(400, "no MsgType")
    try:
        # wechatpy parses with xmltodict (entities disabled); the document has passed the guard.
        message = parse_message(raw.decode("utf-8"))
    except Exception:
        raise ProtocolError(400, "unparseable message") from None
    return message, encrypted


def render_reply(settings: WechatSettings, message, text: str, encrypted: bool, nonce: str) -> tuple[str, str]:
    """(body, media type) of the passive reply: "success" for nothing to say, else a text reply."""
    if not text:
        return "success", "text/plain; charset=utf-8"
    xml = TextReply(message=message, content=text).render()
    if encrypted:
        xml = settings.crypto().encrypt_message(xml, nonce)
    return xml, "application/xml; charset=utf-8"
