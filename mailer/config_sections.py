"""Settings sections: the nested groups of :class:`mailer.config.Settings` (``MAILER_SMTP__HOST`` …).

Each section is a pydantic model that refuses unknown keys, so a typo in
config/mailer.toml or in an environment name stops start-up naming the key.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator

from mailer.default_sections import DEFAULT_SECTIONS


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
    # Mail due this long with no send attempt started anywhere makes /healthz "degraded"
    # (a stuck backlog: no worker takes it); long enough for a worker restart (issue 14).
    stuck_after: float = Field(default=600, gt=0)
    # An edition paused by a relay outage resumes by itself once the relay has answered
    # for ``auto_resume_after`` seconds in a row (issue 14 item 4); off: only by command.
    auto_resume: bool = True
    auto_resume_after: float = Field(default=120, gt=0)


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


class AdminSettings(Section):
    """Staff sessions and log-in throttling of the admin under /admin (issue 12 item 1)."""

    # A session unused this long ends (idle timeout) …
    session_idle_minutes: float = Field(default=30, gt=0)
    # … and every session ends this long after log-in, however busy (absolute timeout).
    session_hours: float = Field(default=12, gt=0)
    # Failed log-ins within the window that stop further tries for one account / address.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_window_minutes: float = Field(default=15, gt=0)


class SchedulerSettings(Section):
    # Edits must reach a running scheduler within 10 seconds (issue 6).
    reload_seconds: float = Field(default=5, gt=0, le=10)
    heartbeat_seconds: float = Field(default=15, gt=0)
    stale_after: float = Field(default=120, gt=0)
    lease_seconds: float = Field(default=120, ge=1)
    stop_timeout: float = Field(default=30, ge=0)


class LogSettings(Section):
    """How the long-running commands write their log lines (issue 14 item 3)."""

    # "text" for people at a terminal, "json" (one object per line) for log collectors.
    format: Literal["text", "json"] = "text"
