"""The WeChat endpoint end to end: real signed requests through the app, plain and safe mode."""

from __future__ import annotations

import time

from tests.bot.conftest import bind_person, bot_runtime, event_xml, new_openid, sign, text_xml


def test_url_verification_echoes_echostr(wx) -> None:
    params = wx.params()
    response = wx.client.get("/wechat/", params={**params, "echostr": "1234567890abc"})
    assert response.status_code == 200
    assert response.text == "1234567890abc"


def test_url_verification_with_a_bad_signature_is_refused(wx) -> None:
    params = wx.params()
    params["signature"] = "0" * 40
    response = wx.client.get("/wechat/", params={**params, "echostr": "abc"})
    assert response.status_code == 403
    assert "abc" not in response.text


def test_help_command_answers_in_chinese(wx) -> None:
    reply = wx.text(new_openid(), "帮助")
    assert "明白条" in reply and "绑定" in reply


def test_subscribe_event_welcomes_and_explains_the_menu(wx) -> None:
    reply = wx.event(new_openid(), "subscribe")
    assert "欢迎关注" in reply
    assert "【我的补贴】" in reply


def test_not_bound_user_is_told_how_to_bind(wx) -> None:
    reply = wx.text(new_openid(), "查询")
    assert "还没有绑定" in reply
    assert "/wechat/bind/" in reply


def test_binding_flow_then_every_personal_command(wx, seeded) -> None:
    person = seeded.people[1]  # paid lines and a failed one
    openid = new_openid()
    bind_person(wx, openid, person)

    latest = wx.text(openid, "查询")
    assert "耕地地力保护补贴 120.50元 已发放" in latest
    assert "困难残疾人生活补贴 80.00元 发放失败" in latest
    assert "2024年3月15日" in latest
    assert "有1笔发放失败" in latest
    assert person.name not in latest and person.id_number not in latest

    # The menu button stands for the same command.
    assert wx.click(openid, "LATEST") == latest

    statement = wx.text(openid, "明白条 2024")
    assert "2024年明白条" in statement
    assert "合计已发放 120.50元" in statement
    assert "http://127.0.0.1:8000/statement/" in statement
    # The link is a statement token for this person and year (portal/statements.py renders it).
    from portal.statements import read_statement_token

    token = statement.split("/statement/", 1)[1].split()[0]
    decoded = read_statement_token("test-session-secret-not-for-production", token)
    assert (decoded.person_key, decoded.year) == (person.person_key, 2024)

    assert "2023年明白条" in wx.text(openid, "明白条2023")
    assert "2021年暂无" in wx.text(openid, "明白条 2021")

    failed = wx.click(openid, "FAILURES")
    assert "社保卡账户已冻结" in failed
    assert "解冻" in failed

    assert "已解除绑定" in wx.text(openid, "解绑")
    assert "还没有绑定" in wx.text(openid, "查询")


def test_a_person_without_failures_hears_so(wx, seeded) -> None:
    openid = new_openid()
    bind_person(wx, openid, seeded.people[0])
    assert wx.text(openid, "失败") == "您没有发放失败的记录。"
    latest = wx.text(openid, "最新")
    assert "待发放" in latest


def test_policy_search_complaint_and_unknown_text(wx) -> None:
    openid = new_openid()
    found = wx.text(openid, "政策 耕地")
    assert "耕地地力保护补贴" in found and "豫财农〔2024〕12号" in found
    assert "没有找到" in wx.text(openid, "政策 宇宙飞船")
    assert "/complaints/new" in wx.text(openid, "投诉")
    unknown = wx.text(openid, "高龄")
    assert "没有听懂" in unknown and "高龄津贴" in unknown
    assert "没有听懂" in wx.click(openid, "NO_SUCH_KEY") or "您可以发送" in wx.click(openid, "NO_SUCH_KEY")


def test_an_id_number_typed_in_chat_is_not_echoed(wx, seeded) -> None:
    person = seeded.people[0]
    openid = new_openid()
    for text in (person.id_number, f"我的身份证是{person.id_number}，帮我查一下", f"政策 {person.id_number}",
                 f"{person.id_number[:6]} {person.id_number[6:14]} {person.id_number[14:]}", person.card_number):
        reply = wx.text(openid, text)
        assert "请不要在对话中发送身份证号码" in reply
        assert person.id_number not in reply.replace(" ", "")
        assert person.card_number not in reply
        assert "绑定" in reply


def test_long_replies_are_cut_politely(wx_plain) -> None:
    from bot.commands import MAX_REPLY, fit

    text = "\n".join(f"第{i}行 耕地地力保护补贴 120.50元 已发放" for i in range(100))
    cut = fit(text)
    assert len(cut) <= MAX_REPLY
    assert cut.endswith("到门户网站查看）")


def test_bad_signature_is_refused_and_nothing_is_processed(wx) -> None:
    params = wx.params()
    params["signature"] = sign("wrong-token", params["timestamp"], params["nonce"])
    response = wx.post_xml(text_xml(new_openid(), "帮助"), params)
    assert response.status_code == 403
    assert bot_runtime(wx).processed == 0


def test_stale_timestamp_is_refused(wx) -> None:
    stale = wx.params(timestamp=int(time.time()) - 301)
    response = wx.post_xml(text_xml(new_openid(), "帮助"), stale)
    assert response.status_code == 403
    future = wx.params(timestamp=int(time.time()) + 400)
    assert wx.post_xml(text_xml(new_openid(), "帮助"), future).status_code == 403
    assert bot_runtime(wx).processed == 0


def test_safe_mode_refuses_plain_messages(bot_app_factory) -> None:
    from tests.bot.conftest import WechatTester

    client, config = bot_app_factory(WECHAT_MODE="safe")
    plain = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=False)
    response = plain.post_xml(text_xml(new_openid(), "帮助"))
    assert response.status_code == 403


def test_safe_mode_refuses_a_forged_message_signature(bot_app_factory) -> None:
    from tests.bot.conftest import WechatTester

    client, config = bot_app_factory(WECHAT_MODE="safe")
    tester = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=True)
    params = tester.params()
    envelope = tester.crypto.encrypt_message(text_xml(new_openid(), "帮助"), params["nonce"], params["timestamp"])
    params.update(encrypt_type="aes", msg_signature="0" * 40)
    response = client.post("/wechat/", params=params, content=envelope)
    assert response.status_code == 403


def test_compatible_mode_takes_plain_and_encrypted(bot_app_factory) -> None:
    from tests.bot.conftest import WechatTester

    client, config = bot_app_factory(WECHAT_MODE="compatible")
    for encrypt in (False, True):
        tester = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key,
                              encrypt=encrypt)
        assert "明白条" in tester.text(new_openid(), "帮助")


def test_replayed_msgid_is_processed_once_and_answered_the_same(wx, seeded) -> None:
    openid = new_openid()
    bind_person(wx, openid, seeded.people[0])
    runtime = bot_runtime(wx)
    before = runtime.processed
    xml = text_xml(openid, "解绑", msg_id=987654321012)
    first = wx.decode(wx.post_xml(xml))
    replies = [wx.decode(wx.post_xml(xml)) for _ in range(3)]  # WeChat's three retries
    assert first == "已解除绑定。需要时可发送“绑定”重新绑定。"
    assert replies == [first] * 3  # not "您还没有绑定": the unbinding ran once
    assert runtime.processed == before + 1


def test_replayed_event_is_processed_once(wx) -> None:
    openid = new_openid()
    runtime = bot_runtime(wx)
    xml = event_xml(openid, "CLICK", "HELP", create_time=int(time.time()))
    replies = [wx.decode(wx.post_xml(xml)) for _ in range(2)]
    assert replies[0] == replies[1] and "您可以发送" in replies[0]
    assert runtime.processed == 1


def test_slow_answer_is_replied_success_then_sent_by_the_sender(wx_plain) -> None:
    runtime = bot_runtime(wx_plain)
    runtime.deadline = 0  # every answer is "too slow"
    openid = new_openid()
    xml = text_xml(openid, "帮助")
    response = wx_plain.post_xml(xml)
    assert response.status_code == 200 and response.text == "success"
    # The retry gets "success" too, and the answer arrives once through the sender.
    assert wx_plain.post_xml(xml).text == "success"
    for _ in range(100):
        if runtime.sender.sent:
            break
        time.sleep(0.02)
    assert [m.openid for m in runtime.sender.sent] == [openid]
    assert "明白条" in runtime.sender.sent[0].text
    assert runtime.processed == 1


def test_a_failure_while_answering_is_success_and_logged_without_content(wx_plain, caplog) -> None:
    from sqlalchemy import text

    db = wx_plain.client.app.state.services.public_db
    with db.session() as session:  # the public store breaks under the bot
        session.execute(text("DROP TABLE wechat_bindings"))
    openid = new_openid()
    with caplog.at_level("INFO", logger="yikatong.bot"):
        response = wx_plain.post_xml(text_xml(openid, "查询 王秀英"))
    assert response.status_code == 200 and response.text == "success"
    assert "wechat answer failed" in caplog.text
    assert openid not in caplog.text and "王秀英" not in caplog.text and "Traceback" not in caplog.text
