"""Settings: every tunable of the service, read from config/mailer.toml and MAILER_* env.

Settings are built at start-up by :func:`load_settings`, never at import, so tests
and several processes can each hold their own. Layering, highest first:
keyword arguments, environment (``MAILER_`` prefix, ``__`` for nesting),
the TOML file named by ``MAILER_CONFIG`` (default ``config/mailer.toml``), defaults.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailer.errors import ConfigError

#: Secret keys that appear in examples and must never protect a production service.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev", "development", "please-change", "xxx"}
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a known IANA time zone (for example Asia/Seoul)") from None
    return value


#: An IANA time zone name, checked when settings (or a config file) are read.
TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]


def _networks_only(value: list[str]) -> list[str]:
    for item in value:
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise ValueError(
                "must list IP networks such as 10.1.2.0/24 or single addresses"
            ) from None
    return value


#: A list of IP addresses and networks (CIDR), checked when settings are read.
NetworkList = Annotated[list[str], AfterValidator(_networks_only)]


class Section(BaseModel):
    """Base for nested sections: unknown keys are errors so typos are caught at start-up."""

    model_config = {"extra": "forbid"}


class SmtpSettings(Section):
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: Literal["none", "starttls", "tls"] = "none"
    connections: int = Field(default=8, ge=1, le=256)
    rate: float = Field(default=0, ge=0)
    timeout: float = Field(default=30, gt=0)
    max_messages_per_connection: int = Field(default=0, ge=0)
    outbox_port: int = Field(default=8025, ge=0, le=65535)

    @field_validator("host")
    @classmethod
    def _host_is_one_name(cls, value: str | None) -> str | None:
        # A blank host would read as "a relay is configured" and pass the production
        # check, then fail at the first send; " " means unset, like an empty value.
        if value is None or not value.strip():
            return None
        value = value.strip()
        if any(not char.isprintable() or char.isspace() for char in value):
            raise ValueError("must be one host name or address")
        return value

    @property
    def uses_outbox(self) -> bool:
        """True when no relay is configured and the built-in outbox receives mail."""
        return not self.host

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        if self.uses_outbox:
            return self.outbox_port
        return {"none": 25, "starttls": 587, "tls": 465}[self.tls]


class FeedSettings(Section):
    timeout: float = Field(default=20, gt=0)
    allow_private: bool = False
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    concurrency: int = Field(default=16, ge=1, le=256)
    user_agent: str = "mailer/0.1 (+feed digest)"
    backoff_base: float = Field(default=300, ge=1)
    backoff_max: float = Field(default=86400, ge=1)
    include_keywords: list[str] = []
    exclude_keywords: list[str] = []
    default_keywords: bool = True
    min_score: float = Field(default=3, ge=0)
    allow_networks: NetworkList = []
    parse_processes: int = Field(default=0, ge=0, le=64)


#: Default digest sections (title → keywords, Korean and English). A story goes to the
#: section whose keywords it matches best; one that matches none goes to ``fallback_section``.
# fmt: off
DEFAULT_SECTIONS: dict[str, list[str]] = {
    "정책·지원": ["정부", "정책", "지원사업", "지원", "규제", "법안", "예산", "지자체", "시흥시", "산업부", "복지부",
        "식약처", "과기정통부", "중기부", "공모", "육성", "특구", "클러스터", "특화단지", "시행", "개정", "국회",
        "policy", "regulation", "regulator*", "government", "grant", "budget", "ministry", "law"],
    "기업·투자": ["투자", "유치", "상장", "IPO", "인수", "합병", "M&A", "기술이전", "기술수출", "라이선스", "계약",
        "협약", "제휴", "공동개발", "수주", "공급", "매출", "실적", "영업이익", "영업익", "순이익", "펀드", "벤처",
        "스타트업", "공장", "착공", "준공", "CDMO", "CMO", "코스닥", "공모가", "시리즈", "주가", "상한가",
        "investment", "invest", "funding", "financing", "raise", "acquisition", "acquir*", "buy", "buyout",
        "snaps up", "merger", "deal", "inks", "pact", "partner*", "collaborat*", "alliance", "licensing", "license",
        "revenue", "sales", "earnings", "profit", "quarter", "manufacturing", "plant", "restructuring", "layoff*",
        "series a", "series b", "series c", "series d"],
    "연구·임상": ["연구", "임상", "신약", "치료제", "백신", "허가", "승인", "논문", "개발", "특허", "항체",
        "세포치료", "유전자", "바이오마커", "투약", "유효성", "진단", "게재", "clinical", "trial", "research",
        "approval", "approve", "nod", "clear", "reject", "phase", "study", "data", "scientists", "researchers",
        "gene*", "submit*", "application"],
    "해외": ["미국", "중국", "일본", "유럽", "EU", "글로벌", "해외", "보스턴", "global", "overseas", "tariff*",
        "export*", "administration", "pricing", "china", "japan", "india*", "europe*"],
}
# fmt: on


class DigestSettings(Section):
    max_age_days: int = Field(default=7, ge=1)
    max_stories: int = Field(default=30, ge=1, le=500)
    send_when_empty: bool = False
    sections: dict[str, list[str]] = Field(
        default_factory=lambda: {title: list(words) for title, words in DEFAULT_SECTIONS.items()}
    )
    fallback_section: str = Field(default="기타", min_length=1)
    summary_chars: int = Field(default=160, ge=0, le=2000)
    text_width: int = Field(default=72, ge=40, le=200)
    max_part_bytes: int = Field(default=2_000_000, ge=10_000)
    seminar_file: str = "seminar.toml"

    def seminar_path(self, config_dir: Path) -> Path | None:
        """The seminar block's file (relative names are under ``config_dir``); None = no block."""
        if not self.seminar_file.strip():
            return None
        path = Path(self.seminar_file)
        return path if path.is_absolute() else config_dir / path


class RenderSettings(Section):
    """Bounds of every render of a staff-editable template (design §4 "Security rules")."""

    # One part (subject, HTML or text) of a digest or notice; a preview renders three.
    timeout_seconds: float = Field(default=10, gt=0, le=600)
    # The address space of one render process (RLIMIT_AS), its own ~35 MB included.
    memory_mb: int = Field(default=256, ge=64, le=65536)
    processes: int = Field(default=2, ge=1, le=16)


class DeliverySettings(Section):
    retry_for: float = Field(default=24 * 3600, gt=0)
    backoff_base: float = Field(default=60, gt=0)
    backoff_max: float = Field(default=3600, gt=0)
    pause_error_rate: float = Field(default=0.5, gt=0, le=1)
    pause_window: int = Field(default=50, ge=1)
    batch_size: int = Field(default=200, ge=1)
    poll_seconds: float = Field(default=2, gt=0)
    heartbeat_seconds: float = Field(default=5, gt=0)
    stale_after: float = Field(default=60, gt=0)


class ComplianceSettings(Section):
    advertisement: bool = False
    sender_name: str = "(재)시흥산업진흥원"
    sender_name_en: str = "Siheung Industry Promotion Agency"
    postal_address: str = "경기도 시흥시 서울대학로 59-21 시흥비즈니스센터"
    phone: str = "070-7784-3185"
    email: str = "news@example.or.kr"
    from_address: str = "news@example.or.kr"
    list_id: str = "weekly-bio.news.example.or.kr"
    list_name: str = "시흥 바이오산업 주간 뉴스"
    unsubscribe_address: str = ""
    reason: str = (
        "시흥산업진흥원 바이오산업 소식 받아보기에 동의하셨기 때문에 이 메일을 받으셨습니다."
    )
    reason_en: str = "You receive this because you subscribed to the Siheung bio-industry news."


class DkimSettings(Section):
    enabled: bool = False
    domain: str | None = None
    selector: str | None = None
    private_key_path: Path | None = None


class SubscriptionSettings(Section):
    confirm_ttl_hours: float = Field(default=48, gt=0)
    #: How long a mailed data-access link (download, erasure) works: short, since only
    #: the address's owner should hold it (issue 11, item 8).
    data_link_hours: float = Field(default=24, gt=0, le=24)
    reconfirm_days: int = Field(default=730, ge=1)
    pending_retention_days: int = Field(default=7, ge=1)
    per_address_interval: float = Field(default=600, ge=0)
    per_ip_per_hour: int = Field(default=20, ge=1)
    unsubscribed_retention_days: float = Field(default=5, ge=0)
    notice_retry_for: float = Field(default=3 * 86400, gt=0)
    notice_backoff_base: float = Field(default=60, gt=0)
    notice_backoff_max: float = Field(default=3600, gt=0)
    max_form_bytes: int = Field(default=16384, ge=1024)


class WebSettings(Section):
    # Proxy headers are believed only from these peers (issue 11 item 3); empty: from nobody.
    trusted_proxies: NetworkList = []
    proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"


class SchedulerSettings(Section):
    # Edits must reach a running scheduler within 10 seconds (issue 6).
    reload_seconds: float = Field(default=5, gt=0, le=10)
    heartbeat_seconds: float = Field(default=15, gt=0)
    stale_after: float = Field(default=120, gt=0)
    lease_seconds: float = Field(default=120, ge=1)
    stop_timeout: float = Field(default=30, ge=0)


class Settings(BaseSettings):
    """The whole configuration of one mailer process."""

    model_config = SettingsConfigDict(
        env_prefix="MAILER_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///var/mailer.db"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    timezone: TimeZoneName = "Asia/Seoul"
    data_dir: Path = Path("var")
    templates_dir: Path = PROJECT_ROOT / "templates"
    config_dir: Path = PROJECT_ROOT / "config"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    smtp: SmtpSettings = SmtpSettings()
    feeds: FeedSettings = FeedSettings()
    digest: DigestSettings = DigestSettings()
    render: RenderSettings = RenderSettings()
    delivery: DeliverySettings = DeliverySettings()
    compliance: ComplianceSettings = ComplianceSettings()
    dkim: DkimSettings = DkimSettings()
    subscriptions: SubscriptionSettings = SubscriptionSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_a_secret_and_a_relay(self) -> Settings:
        if self.env != "production":
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if key.lower() in PLACEHOLDER_SECRETS or len(key) < 16:
            raise ValueError(
                "secret_key must be set to a long random value in production (MAILER_SECRET_KEY)"
            )
        if self.smtp.uses_outbox:
            # The built-in outbox keeps mail on this machine and is for development only
            # (issue 11 item 6): production mail goes through a real relay.
            raise ValueError(
                "smtp.host must name the SMTP relay in production (MAILER_SMTP__HOST); "
                "the built-in outbox is for development only"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def secret(self) -> str:
        """The signing key; in development one is generated once and kept in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL so that two processes starting at once agree on one key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def config_file_path() -> Path | None:
    """The TOML file to layer under the environment, or None when there is none."""
    named = os.environ.get("MAILER_CONFIG")
    if named:
        return Path(named)
    for candidate in (Path("config/mailer.toml"), PROJECT_ROOT / "config" / "mailer.toml"):
        if candidate.is_file():
            return candidate
    return None


def _describe(error: dict[str, Any]) -> str:
    """One line naming the key and what is wrong with it — never the offending value."""
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    key = ".".join(loc) or "(settings)"
    env = "MAILER_" + "__".join(part.upper() for part in loc) if loc else ""
    message = error.get("msg", "invalid value")
    if error.get("type") == "extra_forbidden":
        message = "is not a known setting"
    message = message.removeprefix("Value error, ")
    where = f" ({env})" if env else ""
    return f"{key}{where}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise :class:`ConfigError` with one readable line per problem."""
    path = config_file_path()
    if path is not None and not path.is_file():
        raise ConfigError(f"configuration file {path} (MAILER_CONFIG) does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # ValidationError's own text echoes raw input, which may be a password.
        lines = [_describe(error) for error in exc.errors(include_input=False)]
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    except ValueError as exc:  # a TOML syntax error surfaces as ValueError
        raise ConfigError(f"invalid configuration file {path}: {exc}") from None
