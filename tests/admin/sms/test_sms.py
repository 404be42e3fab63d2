"""Arrival SMS: queued at publication, one per paid line with the Yunnan fields, sent exactly once
through the sandbox or an HTTP gateway (a local server here), retried after a gateway failure
without a duplicate; no phone number in any log."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from admin.bank import files, ledger, service
from admin.models import PaymentLine, SmsMessage, SmsSandboxMessage
from admin.sms import messages as sms
from admin.sms.gateways import HttpGateway, OutgoingSms, SandboxGateway, make_gateway
from core.timeutil import now
from tests.admin.bank.conftest import act, at_bank, operator, phone  # noqa: F401  (at_bank is a fixture)
from tests.admin.conftest import make_name

DAY = date(2025, 10, 10)


def pay_everything(batch_db, config, batch_id: int, failures: dict[int, str] | None = None) -> None:
    """Export every bank file and import it back, the given line numbers failed."""
    with batch_db.session() as s:
        code = s.get(PaymentLine, s.execute(select(PaymentLine.id).where(PaymentLine.batch_id == batch_id)
                                             .limit(1)).scalar_one()).batch.code
        infos = ledger.open_bank_files(s, batch_id)
    outcomes = {files.line_ref(code, no): (False, reason) for no, reason in (failures or {}).items()}
    for info in infos:
        with batch_db.session() as s:
            data = service.export_file(s, config, operator(s, "bank"), batch_id, file_id=info.id, fmt="csv",
                                       today=DAY).data
        with batch_db.session() as s:
            service.import_results(s, config, operator(s, "bank"), files.with_results(data, outcomes), "r.csv", DAY)


class Gateway(BaseHTTPRequestHandler):
    """A provider with idempotency keys: the first request is taken but answered 504 (the provider
    timed out after accepting it); a key seen before is answered 200 and not delivered again."""

    requests: list[dict[str, Any]]
    delivered: dict[str, dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        self.requests.append({"key": key, "auth": self.headers.get("Authorization"), **body})
        first = len(self.requests) == 1
        if key not in self.delivered:
            self.delivered[key] = body
        self.send_response(504 if first else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": f"gw-{key}"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway_url() -> Iterator[tuple[str, type[Gateway]]]:
    handler = type("Handler", (Gateway,), {"requests": [], "delivered": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms", handler
    server.shutdown()
    server.server_close()


def test_publication_queues_one_message_per_paid_line_and_the_sandbox_holds_them(at_bank, batch_db, config):
    b = at_bank["batch"]
    pay_everything(batch_db, config, b, {2: "账户冻结"})
    with batch_db.session() as s:
        assert s.scalars(select(SmsMessage)).all() == []  # nothing before publication
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))
    with batch_db.session() as s:
        queued = s.scalars(select(SmsMessage).order_by(SmsMessage.id)).all()
        line_nos = {id_: no for id_, no in s.execute(select(PaymentLine.id, PaymentLine.line_no))}
    assert sorted(line_nos[m.line_id] for m in queued) == [1, 3, 4, 5]
    for message in queued:  # the text holds the Yunnan fields and nothing about the person
        for field in ("80周岁以上高龄津贴", "元已于2025年10月10日", "发放部门：鲁山县民政局", "发放周期：2025年9月"):
            assert field in message.text
        assert make_name(1) not in message.text and "138" not in message.text

    gateway = make_gateway(config, batch_db)
    assert isinstance(gateway, SandboxGateway)
    assert sms.send_pending(batch_db, gateway, config.field_key).sent == 4
    assert sms.send_pending(batch_db, gateway, config.field_key).sent == 0
    # the same message handed to the sandbox twice is delivered once
    assert gateway.send(OutgoingSms(sms.message_ref(queued[0].id), phone(1), queued[0].text)).startswith("sandbox-")
    with batch_db.session() as s:
        inbox = sms.sandbox_messages(s, b)
        assert len(s.scalars(select(SmsSandboxMessage)).all()) == 4
    assert sorted(line_nos[m["line_id"]] for m in inbox) == [1, 3, 4, 5]
    assert {m["phone_masked"][:3] for m in inbox} == {"138"} and all("****" in m["phone_masked"] for m in inbox)


def test_a_gateway_failure_is_retried_without_a_duplicate_and_no_phone_is_logged(
        at_bank, batch_db, config, gateway_url, caplog):
    url, server = gateway_url
    b = at_bank["batch"]
    pay_everything(batch_db, config, b)
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))
    caplog.set_level(logging.DEBUG)
    gateway = HttpGateway(url, "sms-token-0123", timeout=5)
    start = now()
    first = sms.send_pending(batch_db, gateway, config.field_key, now=start)
    assert (first.sent, first.retrying) == (4, 1)
    with batch_db.session() as s:
        waiting = s.execute(select(SmsMessage).where(SmsMessage.status == "queued")).scalar_one()
        assert waiting.attempts == 1 and "504" in waiting.last_error
    # not yet due: nothing is sent again
    assert sms.send_pending(batch_db, gateway, config.field_key, now=start).sent == 0
    later = sms.send_pending(batch_db, gateway, config.field_key, now=start + timedelta(minutes=2))
    assert (later.sent, later.retrying) == (1, 0)
    assert sms.send_pending(batch_db, gateway, config.field_key, now=start + timedelta(days=1)).sent == 0

    # five lines, five messages delivered, each once; the retry carried the same key
    assert len(server.delivered) == 5 and len(server.requests) == 6
    assert server.requests[0]["key"] == server.requests[-1]["key"]
    assert {r["auth"] for r in server.requests} == {"Bearer sms-token-0123"}
    assert sorted(body["phone"] for body in server.delivered.values()) == [phone(i) for i in range(1, 6)]
    with batch_db.session() as s:
        sent = s.scalars(select(SmsMessage)).all()
    assert {(m.status, m.gateway) for m in sent} == {("sent", "http")}
    assert sorted(m.attempts for m in sent) == [1, 1, 1, 1, 2]
    assert {m.gateway_id for m in sent} == {f"gw-{sms.message_ref(m.id)}" for m in sent}
    for i in range(1, 6):
        assert phone(i) not in caplog.text


def test_an_unreachable_gateway_is_retried_then_given_up(at_bank, batch_db, config):
    b = at_bank["batch"]
    pay_everything(batch_db, config, b)
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))
    gateway = HttpGateway("http://127.0.0.1:9/sms", None, timeout=1)
    at = now()
    for attempt in range(sms.MAX_ATTEMPTS):
        report = sms.send_pending(batch_db, gateway, config.field_key, now=at)
        at += timedelta(days=1)
    assert report.failed == 5 and report.sent == 0
    with batch_db.session() as s:
        rows = s.scalars(select(SmsMessage)).all()
    assert {(m.status, m.attempts) for m in rows} == {("failed", sms.MAX_ATTEMPTS)}
    assert all("无法连接" in m.last_error for m in rows)
