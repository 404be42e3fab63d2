from pathlib import Path

import pytest

from core.config import SETTINGS, Config, ConfigError


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


def test_bad_values_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = {"YIKATONG_DATA_DIR": str(tmp_path), "YIKATONG_DEMO": "1"}
    with pytest.raises(ConfigError, match="RATE_LIMIT_QUERY_PER_CLIENT"):
        Config.from_env({**env, "RATE_LIMIT_QUERY_PER_CLIENT": "lots"})
    with pytest.raises(ConfigError, match="WECHAT_MODE"):
        Config.from_env({**env, "WECHAT_MODE": "loud"})


def test_every_setting_is_documented_in_readme_and_env_example() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name
        assert f"{setting.name}=" in example, setting.name
