"""Proactive notices: queued once per (openid, line), sent once, within 5 working days."""

from __future__ import annotations

import pytest
import redis

from bot import bindings, notices
from bot.sender import SandboxSender, SendError, WechatSender, token_storage
from core.timeutil import today
from core.workdays import add_workdays
from portal.store import WechatNotice
from tests.bot.conftest import REDIS_URL, new_openid
from tests.bot.fakewechat import FakeWechatApi
from tests.portal.conftest import index_payments


def _publish_new_line(search, person, line_id: str = "new-line-1") -> dict:
    doc = dict(person.payments[0])
    doc.update(id=line_id, date=today().isoformat(), year=today().year, amount="256.30",
               amount_cents=25630, project_name="生态公益林补偿", project_code="STBC", department="林业局",
               state="paid")
    index_payments(search, [doc])
    return doc


def _notices(db) -> list[WechatNotice]:
    from sqlalchemy import select

    with db.session() as session:
        return list(session.scalars(select(WechatNotice).order_by(WechatNotice.id)))


def test_new_paid_line_is_notified_once(public_db, search_engine, seeded) -> None:
    person = seeded.people[0]
    openid = new_openid()
    bindings.bind(public_db, openid, person.person_key)
    sender = SandboxSender()

    # Lines paid before the binding (2023/2024 in the seed) are not news.
    first = notices.notify(public_db, search_engine, sender, base_url="http://127.0.0.1:8000")
    assert (first.queued, first.sent) == (0, 0)

    _publish_new_line(search_engine, person)
    report = notices.notify(public_db, search_engine, sender, template_id="TPL1", base_url="http://127.0.0.1:8000")
    assert (report.queued, report.sent, report.failed) == (1, 1, 0)
    assert len(sender.sent) == 1
    message = sender.sent[0]
    assert message.openid == openid and message.template_id == "TPL1"
    assert message.data["keyword1"]["value"] == "生态公益林补偿"
    assert message.data["keyword2"]["value"] == "256.30元"
    assert message.data["keyword4"]["value"] == "林业局"
    assert message.url == "http://127.0.0.1:8000/query"
    flat = str(message.data)
    assert person.name not in flat and person.id_number not in flat and person.card_number not in flat

    (notice,) = _notices(public_db)
    assert notice.status == "sent" and notice.sent_at is not None
    assert notice.due_on == add_workdays(today(), notices.NOTICE_WORKDAYS)

    again = notices.notify(public_db, search_engine, sender, template_id="TPL1")
    assert (again.queued, again.sent) == (0, 0)
    assert len(sender.sent) == 1


def test_a_paid_line_is_notified_once_its_results_are_published(public_db, search_engine, seeded) -> None:
    """Paid by the bank but not yet published: no notice (the same event as the arrival SMS)."""
    person = seeded.people[2]
    bindings.bind(public_db, new_openid(), person.person_key)
    doc = _publish_new_line(search_engine, person, "new-line-3")
    index_payments(search_engine, [{**doc, "published": False}])
    sender = SandboxSender()
    assert notices.notify(public_db, search_engine, sender).queued == 0
    index_payments(search_engine, [{**doc, "published": True}])
    report = notices.notify(public_db, search_engine, sender)
    assert (report.queued, report.sent) == (1, 1)


def test_failed_send_stays_queued_and_is_retried(public_db, search_engine, seeded) -> None:
    person = seeded.people[1]
    openid = new_openid()
    bindings.bind(public_db, openid, person.person_key)
    _publish_new_line(search_engine, person, "new-line-2")

    class Refusing(SandboxSender):
        def send_template(self, *args, **kwargs) -> None:
            raise SendError("微信接口返回错误 43004")

    report = notices.notify(public_db, search_engine, Refusing())
    assert (report.queued, report.sent, report.failed) == (1, 0, 1)
    (notice,) = _notices(public_db)
    assert (notice.status, notice.attempts) == ("queued", 1)
    assert "43004" in notice.last_error

    sender = SandboxSender()
    report = notices.notify(public_db, search_engine, sender)
    assert (report.queued, report.sent) == (0, 1)
    assert len(sender.sent) == 1
    assert _notices(public_db)[0].attempts == 2


@pytest.fixture
def redis_prefix_config(make_config, redis_url):
    config = make_config(REDIS_URL=REDIS_URL, WECHAT_SECRET="s3cret")
    yield config
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"yikatong:{config.search_index_prefix}*"):
        client.delete(key)
    client.close()


def test_wechat_sender_uses_wechatpy_and_shares_the_token_through_redis(redis_prefix_config) -> None:
    config = redis_prefix_config
    with FakeWechatApi() as api:
        one = WechatSender(config.wechat_appid, config.wechat_secret, session=token_storage(config),
                           api_base_url=api.base_url)
        one.send_text("oUser1", "您好")
        one.send_template("oUser1", "TPL", notices.template_data({"project": "高龄津贴", "amount": "100.00",
                                                                   "date": "2024-03-15", "department": "民政局"}))
        # Another process: the token comes from Redis, not from WeChat again.
        two = WechatSender(config.wechat_appid, config.wechat_secret, session=token_storage(config),
                           api_base_url=api.base_url)
        two.send_text("oUser2", "您好")
        assert api.tokens_issued == 1
        (custom1, custom2) = api.posts("/message/custom/send")
        assert custom1[1]["access_token"] == "TOKEN1" == custom2[1]["access_token"]
        assert custom1[2] == {"touser": "oUser1", "msgtype": "text", "text": {"content": "您好"}}
        (template,) = api.posts("/message/template/send")
        assert template[2]["template_id"] == "TPL"
        assert template[2]["data"]["keyword3"]["value"] == "2024年3月15日"

        api.fail_with = 45047
        with pytest.raises(SendError, match="45047"):
            two.send_text("oUser2", "again")


def test_wechat_sender_unreachable_is_a_send_error() -> None:
    sender = WechatSender("wxappid", "secret", api_base_url="http://127.0.0.1:9/cgi-bin/", timeout=1)
    with pytest.raises(SendError):
        sender.send_text("oUser", "你好")


def test_menu_has_only_known_click_keys() -> None:
    from bot.commands import COMMANDS
    from bot.menu import CLICK_COMMANDS, menu

    data = menu("https://example.gov.cn")
    assert len(data["button"]) <= 3
    keys = [b["key"] for top in data["button"] for b in top["sub_button"] if b["type"] == "click"]
    assert all(len(top["sub_button"]) <= 5 for top in data["button"])
    assert set(keys) <= set(CLICK_COMMANDS)
    assert all(CLICK_COMMANDS[k] in COMMANDS for k in keys)
    views = [b["url"] for top in data["button"] for b in top["sub_button"] if b["type"] == "view"]
    assert all(url.startswith("https://example.gov.cn/") for url in views)


def main(argv: list[str]) -> int:
    """`yikatong wechat …` through this package's own registration (the full CLI is cli.main)."""
    import argparse

    from bot import cli

    parser = argparse.ArgumentParser(prog="yikatong")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_menu_prints_and_push_needs_credentials(capsys, monkeypatch, tmp_path) -> None:

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://yikatong.example.gov.cn")
    for name in ("WECHAT_APPID", "WECHAT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["wechat", "menu"]) == 0
    out = capsys.readouterr().out
    assert "https://yikatong.example.gov.cn/complaints/new" in out and "最新发放" in out
    assert main(["wechat", "menu", "--push"]) == 2
    assert "WECHAT_SECRET" in capsys.readouterr().err


def test_cli_notify_runs_and_is_idempotent(capsys, monkeypatch, tmp_path, public_db_url,
                                          search_engine, seeded) -> None:
    from core.db import Database

    from tests.conftest import TEST_SECRETS

    monkeypatch.chdir(tmp_path)
    env = {**TEST_SECRETS, "PUBLIC_DATABASE_URL": public_db_url, "SEARCH_INDEX_PREFIX": "",
           "YIKATONG_DATA_DIR": str(tmp_path / "search-data")}  # where the search_engine fixture lives
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("WECHAT_SECRET", "MEILI_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["wechat", "notify"]) == 0  # migrates the empty public store
    assert "新排队 0 条" in capsys.readouterr().out
    person = seeded.people[2]
    db = Database(public_db_url)
    bindings.bind(db, new_openid(), person.person_key)
    db.dispose()
    _publish_new_line(search_engine, person, "new-line-3")
    assert main(["wechat", "notify"]) == 0
    assert "新排队 1 条，已发送 1 条" in capsys.readouterr().out
    assert main(["wechat", "notify"]) == 0
    assert "新排队 0 条，已发送 0 条" in capsys.readouterr().out
