"""Kiosk devices: registration, request signatures and the `yikatong kiosk …` commands."""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from cli import main
from core.db import Database
from core.timeutil import now
from portal import kiosk_devices as kd
from tests.conftest import TEST_SECRETS

VILLAGE = "410423204201"  # a village under 鲁山县让河乡


def _register(db: Database, **kw) -> tuple[kd.DeviceInfo, str]:
    args = {"name": "王庄村1号机", "location": "王庄村便民服务中心", "region_code": VILLAGE, **kw}
    return kd.register_device(db, **args)


def _signed(secret: str, device_id: str, *, method: str = "POST", path: str = "/kiosk/api/lookup",
            body: bytes = b"{}", ts: int | None = None, nonce: str | None = None) -> dict:
    ts = int(now().timestamp()) if ts is None else ts
    nonce = nonce or secrets.token_hex(12)
    return dict(device_id=device_id, timestamp=str(ts), nonce=nonce, method=method, path=path, body=body,
                signature=kd.sign(secret, method, path, ts, nonce, body))


def _code(db: Database, request: dict) -> str:
    with pytest.raises(kd.KioskAuthError) as caught:
        kd.verify_request(db, **request)
    return caught.value.code


# --- registration -------------------------------------------------------------------------


def test_register_returns_a_secret_that_lists_never_show(public_db: Database) -> None:
    info, secret = _register(public_db, contact="村委会 张主任")
    assert re.fullmatch(r"k-[0-9a-f]{12}", info.device_id)
    assert len(secret) >= 40
    assert info.region_name == "河南省平顶山市鲁山县让河乡"
    listed = kd.list_devices(public_db)
    assert [d.device_id for d in listed] == [info.device_id]
    assert secret not in repr(listed)
    assert listed[0].enabled and listed[0].query_count == 0 and listed[0].last_seen_at is None


@pytest.mark.parametrize("region", ["41", "410423", "999999999", "41042320420", "abc"])
def test_register_refuses_a_region_that_is_not_a_known_township_or_village(public_db: Database,
                                                                            region: str) -> None:
    with pytest.raises(kd.KioskDeviceError, match="区划代码"):
        _register(public_db, region_code=region)
    assert kd.list_devices(public_db) == []


def test_register_needs_a_name(public_db: Database) -> None:
    with pytest.raises(kd.KioskDeviceError, match="终端名称"):
        _register(public_db, name="  ")


# --- signatures ---------------------------------------------------------------------------


def test_a_correctly_signed_request_passes_once(public_db: Database) -> None:
    info, secret = _register(public_db)
    request = _signed(secret, info.device_id)
    assert kd.verify_request(public_db, **request).device_id == info.device_id
    assert _code(public_db, request) == "nonce_reused"


def test_each_refusal_has_its_own_code(public_db: Database) -> None:
    info, secret = _register(public_db)
    assert _code(public_db, _signed(secret, "k-000000000000")) == "unknown_device"
    assert _code(public_db, _signed(secret, "anything")) == "unknown_device"
    assert _code(public_db, _signed("wrong-secret", info.device_id)) == "bad_signature"
    assert _code(public_db, {**_signed(secret, info.device_id), "body": b'{"x":1}'}) == "bad_signature"
    assert _code(public_db, {**_signed(secret, info.device_id), "path": "/kiosk/api/ping"}) == "bad_signature"
    old = int(now().timestamp()) - 301
    assert _code(public_db, _signed(secret, info.device_id, ts=old)) == "stale_timestamp"
    assert _code(public_db, _signed(secret, info.device_id, ts=old + 602)) == "stale_timestamp"
    assert _code(public_db, _signed(secret, info.device_id, nonce="short")) == "bad_nonce"
    assert _code(public_db, {**_signed(secret, info.device_id), "signature": None}) == "missing_credentials"
    kd.disable_device(public_db, info.device_id)
    assert _code(public_db, _signed(secret, info.device_id)) == "device_disabled"
    kd.enable_device(public_db, info.device_id)
    kd.verify_request(public_db, **_signed(secret, info.device_id))


def test_timestamps_within_300_seconds_either_way_are_accepted(public_db: Database) -> None:
    info, secret = _register(public_db)
    current = int(now().timestamp())
    kd.verify_request(public_db, **_signed(secret, info.device_id, ts=current - 290))
    kd.verify_request(public_db, **_signed(secret, info.device_id, ts=current + 290))


def test_rekey_invalidates_the_old_secret(public_db: Database) -> None:
    info, old_secret = _register(public_db)
    new_info, new_secret = kd.rekey_device(public_db, info.device_id)
    assert new_secret != old_secret
    assert new_info.key_fingerprint != info.key_fingerprint
    assert _code(public_db, _signed(old_secret, info.device_id)) == "bad_signature"
    kd.verify_request(public_db, **_signed(new_secret, info.device_id))


def test_nonces_are_pruned_after_the_window_and_are_per_device(public_db: Database) -> None:
    first, first_secret = _register(public_db)
    second, second_secret = _register(public_db, name="2号机")
    kd.verify_request(public_db, **_signed(first_secret, first.device_id, nonce="same-nonce-123"))
    kd.verify_request(public_db, **_signed(second_secret, second.device_id, nonce="same-nonce-123"))
    assert kd.nonce_count(public_db) == 2
    assert kd.prune_nonces(public_db) == 0
    later = now() + timedelta(seconds=kd.NONCE_RETENTION_SECONDS + 1)
    assert kd.prune_nonces(public_db, at=later) == 2
    assert kd.nonce_count(public_db) == 0


def test_counters_record_use_without_personal_data(public_db: Database) -> None:
    info, _ = _register(public_db)
    kd.record_query(public_db, info.device_id)
    kd.record_query(public_db, info.device_id)
    seen = kd.get_device(public_db, info.device_id)
    assert seen is not None and seen.query_count == 2 and seen.last_seen_at is not None


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, public_db_url: str) -> str:
    monkeypatch.chdir(tmp_path)
    for name in ("YIKATONG_DEMO", "DATABASE_URL", "REDIS_URL", "MEILI_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YIKATONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PUBLIC_DATABASE_URL", public_db_url)
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    return public_db_url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["kiosk", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_add_shows_the_secret_once_and_list_never(cli_env: str, capsys) -> None:
    code, out, _ = _run(capsys, "add", "--name", "王庄村1号机", "--location", "王庄村便民服务中心",
                        "--region", VILLAGE, "--contact", "张主任 0375-1234567")
    assert code == 0
    device_id = re.search(r"终端编号 \(device id\): (k-[0-9a-f]{12})", out).group(1)
    secret = re.search(r"终端密钥 \(secret\):\s+(\S+)", out).group(1)
    assert "只显示这一次" in out

    code, out, _ = _run(capsys, "list")
    assert code == 0 and device_id in out and "启用" in out and "从未" in out
    assert secret not in out
    code, out, _ = _run(capsys, "list", "--json")
    rows = json.loads(out)
    assert rows[0]["device_id"] == device_id and rows[0]["query_count"] == 0
    assert secret not in out

    # The printed secret is the one that signs.
    db = Database(cli_env)
    try:
        kd.verify_request(db, **_signed(secret, device_id))
        kd.record_query(db, device_id)
    finally:
        db.dispose()
    code, out, _ = _run(capsys, "list", "--json")
    assert json.loads(out)[0]["query_count"] == 1 and json.loads(out)[0]["last_seen_at"]


def test_cli_disable_enable_and_rekey(cli_env: str, capsys) -> None:
    _, out, _ = _run(capsys, "add", "--name", "1号机", "--location", "乡政府大厅", "--region", VILLAGE[:9])
    device_id = re.search(r"(k-[0-9a-f]{12})", out).group(1)
    old_secret = re.search(r"终端密钥 \(secret\):\s+(\S+)", out).group(1)

    assert _run(capsys, "disable", device_id)[0] == 0
    assert "停用" in _run(capsys, "list")[1]
    db = Database(cli_env)
    try:
        assert _code(db, _signed(old_secret, device_id)) == "device_disabled"
        assert _run(capsys, "enable", device_id)[0] == 0

        code, out, _ = _run(capsys, "rekey", device_id)
        assert code == 0 and "旧密钥立即失效" in out
        new_secret = re.search(r"终端密钥 \(secret\):\s+(\S+)", out).group(1)
        assert new_secret != old_secret
        assert _code(db, _signed(old_secret, device_id)) == "bad_signature"
        kd.verify_request(db, **_signed(new_secret, device_id))
    finally:
        db.dispose()


def test_cli_refuses_unknown_ids_and_bad_regions_with_a_chinese_message(cli_env: str, capsys) -> None:
    code, out, err = _run(capsys, "disable", "k-000000000000")
    assert code == 2 and "没有编号为" in err and "Traceback" not in err
    code, out, err = _run(capsys, "add", "--name", "x", "--location", "y", "--region", "123")
    assert code == 2 and "区划代码" in err
    assert _run(capsys, "list")[1].startswith("还没有登记任何终端")
