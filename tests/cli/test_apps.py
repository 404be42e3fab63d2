"""Where the apps are assembled (cli/apps.py): the public app is the portal plus /wechat, and in
demo mode — only there — the sample people of the last demo build on the home page and at the
kiosk's simulated card reader."""

from __future__ import annotations

from starlette.testclient import TestClient

from cli.apps import public_app
from demo.people import write_demo_people
from portal import kiosk_devices
from portal.app import create_app
from portal.kiosk import start_url
from tests.portal.conftest import _index_templates, search_engine  # noqa: F401  (the portal's fixtures, shared)

WANG = {"id_number": "410423195603120218", "name": "王秀英", "card_number": "6217000000000000013",
        "card_last4": "0013", "region": "鲁山县", "shows": "已发放2笔，1笔待发放", "key": "a"}


def test_demo_mode_reads_the_demo_people_file(make_config, search_engine, public_db) -> None:
    config = make_config(YIKATONG_DEMO="1")
    with TestClient(public_app(config, search=search_engine)) as client:
        page = client.get("/kiosk")
        assert "演示人员还没有生成" in page.text and "模拟刷身份证" in page.text
        assert client.get("/kiosk/demo-people").json() == {"people": []}
        assert "演示用查询人员" not in client.get("/").text
        write_demo_people(config.data_dir, [WANG])
        page = client.get("/kiosk")
        assert "王秀英" in page.text and "已发放2笔，1笔待发放" in page.text
        people = client.get("/kiosk/demo-people").json()["people"]
        assert people[0]["name"] == "王秀英" and people[0]["note"] == "已发放2笔，1笔待发放"
        home = client.get("/").text
        assert "演示用查询人员" in home and "王秀英" in home and WANG["id_number"] in home


def test_outside_demo_mode_there_are_no_sample_people(make_config, search_engine, public_db) -> None:
    config = make_config()
    write_demo_people(config.data_dir, [WANG])  # a stray file is never read outside demo mode
    device, secret = kiosk_devices.register_device(public_db, name="王庄村1号机", location="王庄村便民服务中心",
                                                   region_code="410423204201")
    with TestClient(public_app(config, search=search_engine)) as client:
        home = client.get("/").text
        assert "王秀英" not in home and "演示用查询人员" not in home
        assert client.get(start_url(device.device_id, secret), follow_redirects=False).status_code == 303
        page = client.get("/kiosk")
        assert page.status_code == 200 and "模拟刷身份证" not in page.text and "王秀英" not in page.text
        assert client.get("/kiosk/demo-people").json() == {"people": []}


def test_the_public_app_is_the_portal_with_the_wechat_endpoint(config, search_engine, public_db) -> None:
    with TestClient(public_app(config, search=search_engine)) as client:
        assert client.get("/wechat/", params={"echostr": "x"}).status_code == 403  # unsigned: refused
        assert client.get("/").status_code == 200
    with TestClient(create_app(config, search=search_engine)) as client:  # the portal alone
        assert client.get("/wechat/", params={"echostr": "x"}).status_code == 404
