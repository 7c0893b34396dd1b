"""Settings: every tunable of the service, read from config/mailer.toml and MAILER_* env.

Settings are built at start-up by :func:`load_settings`, never at import, so tests
and several processes can each hold their own. Layering, highest first:
keyword arguments, environment (``MAILER_`` prefix, ``__`` for nesting),
the TOML file named by ``MAILER_CONFIG`` (default ``config/mailer.toml``), defaults.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    PrivateAttr,
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

# The sections live in their own module; they are re-exported here because callers
# name them as settings (``from mailer.config import SmtpSettings``).
from mailer.config_sections import (
    AdminSettings,
    ComplianceSettings,
    DeliverySettings,
    DigestSettings,
    DkimSettings,
    FeedSettings,
    LogSettings,
    NetworkList,
    RenderSettings,
    SchedulerSettings,
    Section,
    SmtpSettings,
    SubscriptionSettings,
    TimeZoneName,
    WebSettings,
)
from mailer.errors import ConfigError
from mailer.public_url import listen_url

#: Secret keys that appear in examples and must never protect a production service.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev", "development", "please-change", "xxx"}
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "PROJECT_ROOT",
    "AdminSettings",
    "ComplianceSettings",
    "DeliverySettings",
    "DigestSettings",
    "DkimSettings",
    "FeedSettings",
    "LogSettings",
    "NetworkList",
    "RenderSettings",
    "SchedulerSettings",
    "Section",
    "Settings",
    "SmtpSettings",
    "SubscriptionSettings",
    "TimeZoneName",
    "WebSettings",
    "load_settings",
]


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
    #: Unset (""), links follow ``host`` and ``port``: mailer/public_url.py (issue 15 item 1).
    base_url: str = ""
    secret_key: SecretStr | None = None
    timezone: TimeZoneName = "Asia/Seoul"
    data_dir: Path = Path("var")
    templates_dir: Path = PROJECT_ROOT / "templates"
    config_dir: Path = PROJECT_ROOT / "config"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log: LogSettings = LogSettings()

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
    admin: AdminSettings = AdminSettings()

    #: True when ``base_url`` was not configured and follows the listen address.
    _base_url_derived: bool = PrivateAttr(default=False)

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
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_a_secret_a_relay_and_a_base_url(self) -> Settings:
        if not self.base_url:  # links follow the listen address (mailer/public_url.py)
            self.base_url, self._base_url_derived = listen_url(self.host, self.port), True
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
        if self._base_url_derived:
            # Behind a proxy or in a container, where serve listens is never the public address.
            raise ValueError(
                "base_url must be set in production (MAILER_BASE_URL): the public https:// "
                "address every link in mail starts with"
            )
        return self

    @property
    def base_url_derived(self) -> bool:
        """True when base_url was not configured: it is http://host:port."""
        return self._base_url_derived

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
