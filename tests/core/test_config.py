from pathlib import Path

import pytest

from core.config import SETTINGS, Config, ConfigError, load_config


def test_refuses_to_start_without_secrets_and_names_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path)})
    assert "YIKATONG_HMAC_KEY" in str(err.value)
    assert "缺少" in str(err.value)


def test_demo_mode_generates_and_keeps_secrets(tmp_path: Path) -> None:
    first = Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_DEMO": "1"})
    second = Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_DEMO": "1"})
    assert first.hmac_key and first.hmac_key == second.hmac_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0
    assert first.batch_database_url.endswith("batch.sqlite3")


def test_describe_hides_secrets(config: Config) -> None:
    shown = config.describe()
    assert shown["YIKATONG_HMAC_KEY"] == "***"
    assert "test-hmac" not in str(shown)


def test_repr_and_str_of_the_config_show_no_secret(tmp_path: Path) -> None:
    env = {"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_HMAC_KEY": "hmac-value-0123456789",
           "YIKATONG_SESSION_SECRET": "session-value-0123456789", "YIKATONG_FIELD_KEY": "field-value-0123456789",
           "MEILI_URL": "http://127.0.0.1:7700", "MEILI_API_KEY": "meili-value-0123456789",
           "WECHAT_TOKEN": "token-value-0123456789", "WECHAT_AES_KEY": "aes-value-0123456789",
           "WECHAT_SECRET": "wechat-secret-value-0123456789", "WECHAT_MODE": "safe",
           "SMS_GATEWAY": "http", "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms",
           "SMS_GATEWAY_TOKEN": "sms-token-value-0123456789"}
    config = Config.from_env(env)
    secrets = [env[s.name] for s in SETTINGS if s.secret]
    assert len(secrets) == 8
    for shown in (repr(config), str(config), repr(vars(config)), f"{config!r}"):
        for value in secrets:
            assert value not in shown
    assert "**********" in repr(config)
    # The values themselves are what they were set to, for the code that needs them.
    assert config.hmac_key == b"hmac-value-0123456789" and isinstance(config.hmac_key, bytes)
    assert config.session_secret == "session-value-0123456789" and str(config.session_secret) == config.session_secret
    assert config.wechat_secret == "wechat-secret-value-0123456789"


def test_demo_secrets_do_not_print_either(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("YIKATONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("YIKATONG_DEMO", "1")
    config = load_config()
    for value in (config.hmac_key.decode(), config.session_secret, config.field_key, config.wechat_token):
        assert value and value not in repr(config)


def test_defaults_come_from_the_settings_table(tmp_path: Path) -> None:
    config = Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_DEMO": "1"})
    defaults = {s.name: s.default for s in SETTINGS}
    assert config.public_base_url == defaults["PUBLIC_BASE_URL"]
    assert config.wechat_mode == defaults["WECHAT_MODE"]
    assert config.open_data_max_rows == int(defaults["OPEN_DATA_MAX_ROWS"] or "")
    assert config.complaint_deadline_days == int(defaults["COMPLAINT_DEADLINE_DAYS"] or "")
    assert config.log_level == defaults["LOG_LEVEL"]
    assert config.sms_gateway == defaults["SMS_GATEWAY"]
    assert config.sms_gateway_timeout == float(defaults["SMS_GATEWAY_TIMEOUT"] or "")
    assert "/".join(map(str, config.rate_query_per_client)) == defaults["RATE_LIMIT_QUERY_PER_CLIENT"]


def test_bad_values_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = {"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_DEMO": "1"}
    with pytest.raises(ConfigError, match="RATE_LIMIT_QUERY_PER_CLIENT"):
        Config.from_env({**env, "RATE_LIMIT_QUERY_PER_CLIENT": "lots"})
    with pytest.raises(ConfigError, match="WECHAT_MODE"):
        Config.from_env({**env, "WECHAT_MODE": "loud"})
    with pytest.raises(ConfigError, match="SMS_GATEWAY"):
        Config.from_env({**env, "SMS_GATEWAY": "carrier-pigeon"})
    with pytest.raises(ConfigError, match="SMS_GATEWAY_URL"):
        Config.from_env({**env, "SMS_GATEWAY": "http"})
    with pytest.raises(ConfigError, match="SMS_GATEWAY_TIMEOUT"):
        Config.from_env({**env, "SMS_GATEWAY_TIMEOUT": "0"})


def test_every_setting_is_documented_in_readme_and_env_example() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name
        assert f"{setting.name}=" in example, setting.name
