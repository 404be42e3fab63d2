"""One `Config`, read from environment variables (and an optional `.env` file).

Every setting is declared once in `SETTINGS` (name, default, help); the README's
configuration table and `.env.example` are checked against this list by a test.

Secrets: in demo mode (`YIKATONG_DEMO=1`) missing secrets are generated once and kept
in `<data dir>/secrets.json`; outside demo mode the app refuses to start without them
and names the missing one. A secret value is a :class:`SecretText` (or :class:`SecretKey`):
it is used like the ``str`` (``bytes``) it is, but its ``repr`` is masked, so ``repr(config)``,
``str(config)``, a logged tuple or a traceback's locals never show it.

Defaults live in `SETTINGS` only: the code that reads the environment falls back to the table.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.fernet import Fernet


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("YIKATONG_DATA_DIR", "./data", "Folder for the SQLite databases, the embedded search index and demo secrets."),
    Setting("YIKATONG_DEMO", "0", "1 = demo mode: generated secrets, generated people, a visible 演示数据 banner."),
    Setting("DATABASE_URL", None, "SQLAlchemy URL used for both databases when the two specific URLs below are not set (e.g. postgresql+psycopg2://user@host/db)."),
    Setting("BATCH_DATABASE_URL", None, "Internal batch database (admin/ and indexer/ only). Default: SQLite file batch.sqlite3 in the data folder."),
    Setting("PUBLIC_DATABASE_URL", None, "Public store: complaints inbox, WeChat bindings, kiosk devices (portal/ and bot/). Default: SQLite file public.sqlite3 in the data folder."),
    Setting("MEILI_URL", None, "Meilisearch server URL. Unset: the embedded search engine under the data folder."),
    Setting("MEILI_API_KEY", None, "Meilisearch API key.", secret=True),
    Setting("SEARCH_INDEX_PREFIX", "", "Prefix for index names (several deployments or test runs on one Meilisearch)."),
    Setting("REDIS_URL", None, "Redis URL for rate limits, WeChat de-duplication, token cache and the index generation the response cache is keyed by (set it when portal workers run on several machines). Unset: in-process, generation in the data folder."),
    Setting("YIKATONG_HMAC_KEY", None, "Secret key of the person key (HMAC of the normalised ID number). Must be the same on the internal and public side.", secret=True),
    Setting("YIKATONG_SESSION_SECRET", None, "Secret for signed cookies, CSRF tokens and signed links.", secret=True),
    Setting("YIKATONG_FIELD_KEY", None, "Key that encrypts ID and card numbers at rest in the batch database (Fernet, urlsafe base64 of 32 bytes).", secret=True),
    Setting("WECHAT_TOKEN", None, "WeChat official account server token (signature check).", secret=True),
    Setting("WECHAT_APPID", None, "WeChat official account AppID."),
    Setting("WECHAT_AES_KEY", None, "WeChat EncodingAESKey (43 chars) for compatible/safe mode.", secret=True),
    Setting("WECHAT_SECRET", None, "WeChat AppSecret (access token for customer-service and template messages).", secret=True),
    Setting("WECHAT_MODE", "plain", "Message mode: plain, compatible or safe."),
    Setting("WECHAT_TEMPLATE_ID", None, "Template message id for payment notices (without it a customer-service text is sent)."),
    Setting("PUBLIC_BASE_URL", "http://127.0.0.1:8000", "Base URL of the public portal, used in links sent by the bot."),
    Setting("RATE_LIMIT_QUERY_PER_CLIENT", "10/60", "Personal queries allowed per client address: count/seconds."),
    Setting("RATE_LIMIT_QUERY_PER_PERSON", "5/3600", "Failed personal queries allowed per person key: count/seconds."),
    Setting("RATE_LIMIT_KIOSK_PER_DEVICE", "30/60", "Personal queries allowed per village kiosk: count/seconds (a queue of villagers shares one device)."),
    Setting("COMPLAINT_DEADLINE_DAYS", "15", "Working days to answer a complaint or tip-off."),
    Setting("DISCLOSURE_REQUEST_DEADLINE_DAYS", "20", "Working days to answer an information-disclosure request."),
    Setting("OPEN_DATA_MAX_ROWS", "10000", "Cap on rows in one open-data CSV export."),
    Setting("SMS_GATEWAY", "sandbox", "Arrival SMS gateway: sandbox (messages kept in the batch database's sms_sandbox table, nothing sent) or http."),
    Setting("SMS_GATEWAY_URL", None, "With SMS_GATEWAY=http: the URL messages are POSTed to as JSON {ref, phone, text} (required then)."),
    Setting("SMS_GATEWAY_TOKEN", None, "With SMS_GATEWAY=http: sent as Authorization: Bearer <token>.", secret=True),
    Setting("SMS_GATEWAY_TIMEOUT", "10", "Seconds to wait for the SMS gateway before the message is retried later."),
    Setting("BANK_CLI_ACTOR", None, "Username of the operator account `yikatong bank export/import` act as (the bank's automated side); --actor overrides it."),
    Setting("LOG_LEVEL", "INFO", "Log level."),
)

DEFAULTS: Mapping[str, str | None] = {s.name: s.default for s in SETTINGS}
SECRET_NAMES = frozenset(s.name for s in SETTINGS if s.secret)
MASK = "**********"

REQUIRED_SECRETS = ("YIKATONG_HMAC_KEY", "YIKATONG_SESSION_SECRET", "YIKATONG_FIELD_KEY")
WECHAT_SECRETS = ("WECHAT_TOKEN",)


class ConfigError(Exception):
    """Configuration is unusable; the message names the setting, in Chinese and English."""


class SecretText(str):
    """A secret string: the value itself everywhere, except that its ``repr`` is masked."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


class SecretKey(bytes):
    """A secret key as bytes: the value itself everywhere, except that its ``repr`` is masked."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def _secret(value: str | None) -> SecretText | None:
    return None if value is None else SecretText(value)


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _rate(value: str, name: str) -> tuple[int, int]:
    try:
        count, _, seconds = value.partition("/")
        parsed = int(count), int(seconds)
    except ValueError:
        raise ConfigError(f"{name} 格式应为 次数/秒数 (got {value!r})") from None
    if parsed[0] < 1 or parsed[1] < 1:
        raise ConfigError(f"{name} must be positive")
    return parsed


@dataclass(frozen=True)
class Config:
    data_dir: Path
    demo: bool
    batch_database_url: str
    public_database_url: str
    meili_url: str | None
    meili_api_key: SecretText | None
    search_index_prefix: str
    redis_url: str | None
    hmac_key: SecretKey
    session_secret: SecretText
    field_key: SecretText
    wechat_token: SecretText | None
    wechat_appid: str | None
    wechat_aes_key: SecretText | None
    wechat_secret: SecretText | None
    wechat_mode: str
    wechat_template_id: str | None
    public_base_url: str
    rate_query_per_client: tuple[int, int]
    rate_query_per_person: tuple[int, int]
    rate_kiosk_per_device: tuple[int, int]
    complaint_deadline_days: int
    disclosure_request_deadline_days: int
    open_data_max_rows: int
    log_level: str
    sms_gateway: str
    sms_gateway_url: str | None
    sms_gateway_token: SecretText | None
    sms_gateway_timeout: float
    bank_cli_actor: str | None
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)  # the settings as set (not the defaults)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, require_secrets: bool = True) -> "Config":
        env: dict[str, str] = {}
        env.update(_read_dotenv(Path(".env")))
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            """The value set in the environment, else the default of `SETTINGS`."""
            value = env.get(name)
            return DEFAULTS[name] if value is None or value == "" else value

        def text(name: str) -> str:
            """A setting that always has a value (its default is not None)."""
            value = get(name)
            if value is None:  # pragma: no cover - a setting declared without its default
                raise ConfigError(f"{name} has no default")
            return value

        data_dir = Path(text("YIKATONG_DATA_DIR")).resolve()
        demo = text("YIKATONG_DEMO").lower() in ("1", "true", "yes", "on")
        secrets_values = {name: get(name) for name in (*REQUIRED_SECRETS, *WECHAT_SECRETS, "WECHAT_AES_KEY")}
        if demo:
            generated = demo_secrets(data_dir)
            for name, value in generated.items():
                if not secrets_values.get(name):
                    secrets_values[name] = value
        elif require_secrets:
            missing = [name for name in REQUIRED_SECRETS if not secrets_values.get(name)]
            if missing:
                raise ConfigError(
                    "缺少必需的密钥配置：" + "、".join(missing)
                    + "（missing required secret: " + ", ".join(missing)
                    + "; set it in the environment, or YIKATONG_DEMO=1 for demo mode)"
                )
        default_db = get("DATABASE_URL")
        batch_url = get("BATCH_DATABASE_URL") or default_db or f"sqlite:///{data_dir / 'batch.sqlite3'}"
        public_url = get("PUBLIC_DATABASE_URL") or default_db or f"sqlite:///{data_dir / 'public.sqlite3'}"
        mode = text("WECHAT_MODE").lower()
        if mode not in ("plain", "compatible", "safe"):
            raise ConfigError(f"WECHAT_MODE 应为 plain、compatible 或 safe（got {mode!r}）")
        if mode != "plain" and not secrets_values.get("WECHAT_AES_KEY"):
            raise ConfigError("WECHAT_MODE 为加密模式时必须设置 WECHAT_AES_KEY（missing WECHAT_AES_KEY）")
        try:
            complaint_days = int(text("COMPLAINT_DEADLINE_DAYS"))
            request_days = int(text("DISCLOSURE_REQUEST_DEADLINE_DAYS"))
            max_rows = int(text("OPEN_DATA_MAX_ROWS"))
            sms_timeout = float(text("SMS_GATEWAY_TIMEOUT"))
        except ValueError as exc:
            raise ConfigError(f"数值配置无效：{exc}") from None
        sms_gateway = text("SMS_GATEWAY").lower()
        if sms_gateway not in ("sandbox", "http"):
            raise ConfigError(f"SMS_GATEWAY 应为 sandbox 或 http（got {sms_gateway!r}）")
        if sms_gateway == "http" and not get("SMS_GATEWAY_URL"):
            raise ConfigError("SMS_GATEWAY=http 时必须设置 SMS_GATEWAY_URL（missing SMS_GATEWAY_URL）")
        if not 0 < sms_timeout <= 120:
            raise ConfigError("SMS_GATEWAY_TIMEOUT 应在 0 至 120 秒之间")
        return cls(
            data_dir=data_dir,
            demo=demo,
            batch_database_url=batch_url,
            public_database_url=public_url,
            meili_url=get("MEILI_URL"),
            meili_api_key=_secret(get("MEILI_API_KEY")),
            search_index_prefix=text("SEARCH_INDEX_PREFIX"),
            redis_url=get("REDIS_URL"),
            hmac_key=SecretKey((secrets_values.get("YIKATONG_HMAC_KEY") or "").encode()),
            session_secret=SecretText(secrets_values.get("YIKATONG_SESSION_SECRET") or ""),
            field_key=SecretText(secrets_values.get("YIKATONG_FIELD_KEY") or ""),
            wechat_token=_secret(secrets_values.get("WECHAT_TOKEN")),
            wechat_appid=get("WECHAT_APPID"),
            wechat_aes_key=_secret(secrets_values.get("WECHAT_AES_KEY")),
            wechat_secret=_secret(get("WECHAT_SECRET")),
            wechat_mode=mode,
            wechat_template_id=get("WECHAT_TEMPLATE_ID"),
            public_base_url=text("PUBLIC_BASE_URL").rstrip("/"),
            rate_query_per_client=_rate(text("RATE_LIMIT_QUERY_PER_CLIENT"), "RATE_LIMIT_QUERY_PER_CLIENT"),
            rate_query_per_person=_rate(text("RATE_LIMIT_QUERY_PER_PERSON"), "RATE_LIMIT_QUERY_PER_PERSON"),
            rate_kiosk_per_device=_rate(text("RATE_LIMIT_KIOSK_PER_DEVICE"), "RATE_LIMIT_KIOSK_PER_DEVICE"),
            complaint_deadline_days=complaint_days,
            disclosure_request_deadline_days=request_days,
            open_data_max_rows=max_rows,
            log_level=text("LOG_LEVEL"),
            sms_gateway=sms_gateway,
            sms_gateway_url=get("SMS_GATEWAY_URL"),
            sms_gateway_token=_secret(get("SMS_GATEWAY_TOKEN")),
            sms_gateway_timeout=sms_timeout,
            bank_cli_actor=get("BANK_CLI_ACTOR"),
            raw={name: SecretText(value) if name in SECRET_NAMES else value
                 for name, value in env.items() if name in DEFAULTS},
        )

    def describe(self) -> dict[str, str]:
        """Settings for display, secrets replaced by ***."""
        out: dict[str, str] = {}
        for s in SETTINGS:
            value = self.raw.get(s.name) or s.default or ""
            out[s.name] = "***" if (s.secret and value) else value
        return out


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets for demo mode: generated once, kept in <data dir>/secrets.json (mode 0600)."""
    path = data_dir / "secrets.json"
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
    else:
        stored = {}
    wanted = {
        "YIKATONG_HMAC_KEY": lambda: secrets.token_urlsafe(32),
        "YIKATONG_SESSION_SECRET": lambda: secrets.token_urlsafe(32),
        "YIKATONG_FIELD_KEY": lambda: Fernet.generate_key().decode(),
        "WECHAT_TOKEN": lambda: secrets.token_hex(16),
        "WECHAT_AES_KEY": lambda: secrets.token_urlsafe(32)[:43].replace("-", "a").replace("_", "b"),
    }
    changed = False
    for name, make in wanted.items():
        if not stored.get(name):
            stored[name] = make()
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return stored


def load_config(require_secrets: bool = True) -> Config:
    """The configuration from the environment (and `.env`), as every command reads it."""
    return Config.from_env(require_secrets=require_secrets)
