"""The binding page: signed expiring state, CSRF, second factor, rate limit, no ID echo."""

from __future__ import annotations

import re

from bot import bindings
from tests.bot.conftest import new_openid

SECRET = "test-session-secret-not-for-production"


def _open(client, openid: str, secret: str = SECRET) -> tuple[str, str]:
    path = "/wechat/bind/" + bindings.make_state(secret, openid)
    page = client.get(path)
    assert page.status_code == 200
    return path, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_state_is_signed_and_expires() -> None:
    state = bindings.make_state(SECRET, "oABC")
    assert bindings.read_state(SECRET, state) == "oABC"
    for bad, status in ((state[:-2] + "xx", 403), (bindings.make_state("other-secret", "oABC"), 403)):
        try:
            bindings.read_state(SECRET, bad)
        except Exception as exc:
            assert exc.status == status
        else:
            raise AssertionError("forged state accepted")
    try:
        bindings.read_state(SECRET, state, max_age=-1)
    except Exception as exc:
        assert exc.status == 410 and "已过期" in exc.message
    else:
        raise AssertionError("expired state accepted")


def test_forged_link_shows_a_chinese_page(wx_plain) -> None:
    response = wx_plain.client.get("/wechat/bind/not-a-state")
    assert response.status_code == 403
    assert "绑定链接无效" in response.text


def test_wrong_factor_binds_nothing_and_does_not_echo_the_id(wx_plain, seeded) -> None:
    person = seeded.people[0]
    openid = new_openid()
    path, token = _open(wx_plain.client, openid)
    response = wx_plain.client.post(path, data={"csrf_token": token, "id_number": person.id_number,
                                                "name": "王秀兰", "card_digits": person.card_last4})
    assert response.status_code == 404
    assert "未查询到记录" in response.text
    assert person.id_number not in response.text
    assert "还没有绑定" in wx_plain.text(openid, "查询")


def test_invalid_fields_get_field_messages(wx_plain) -> None:
    path, token = _open(wx_plain.client, new_openid())
    response = wx_plain.client.post(path, data={"csrf_token": token, "id_number": "123",
                                                "name": "", "card_digits": "12"})
    assert response.status_code == 422
    assert "请填写姓名" in response.text


def test_post_without_csrf_token_is_refused(wx_plain, seeded) -> None:
    person = seeded.people[0]
    openid = new_openid()
    path, _token = _open(wx_plain.client, openid)
    response = wx_plain.client.post(path, data={"id_number": person.id_number, "name": person.name,
                                                "card_digits": person.card_last4})
    assert response.status_code == 403
    assert "还没有绑定" in wx_plain.text(openid, "查询")


def test_guessing_is_rate_limited(bot_app_factory, seeded) -> None:
    client, config = bot_app_factory(RATE_LIMIT_QUERY_PER_CLIENT="3/60")
    person = seeded.people[2]
    path, token = _open(client, new_openid())
    statuses = [client.post(path, data={"csrf_token": token, "id_number": person.id_number, "name": "张桂兰",
                                        "card_digits": f"{n:04d}"}).status_code for n in range(5)]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429]


def test_binding_again_moves_the_binding(wx_plain, seeded) -> None:
    from tests.bot.conftest import bind_person

    openid = new_openid()
    bind_person(wx_plain, openid, seeded.people[0])
    assert "待发放" in wx_plain.text(openid, "查询")
    assert "您已绑定" in wx_plain.text(openid, "绑定")
    bind_person(wx_plain, openid, seeded.people[1])
    assert "发放失败" in wx_plain.text(openid, "查询")


def test_unsubscribe_removes_the_binding(wx_plain, seeded) -> None:
    from tests.bot.conftest import bind_person

    openid = new_openid()
    bind_person(wx_plain, openid, seeded.people[0])
    assert wx_plain.event(openid, "unsubscribe") == ""
    assert "还没有绑定" in wx_plain.text(openid, "查询")


def test_binding_stores_only_the_person_key(wx_plain, seeded) -> None:
    from tests.bot.conftest import bind_person

    openid = new_openid()
    person = seeded.people[2]  # historical 412631 code
    bind_person(wx_plain, openid, person)
    db = wx_plain.client.app.state.services.public_db
    assert bindings.person_key_of(db, openid) == person.person_key
    assert bindings.all_bindings(db)[0][:2] == (openid, person.person_key)
