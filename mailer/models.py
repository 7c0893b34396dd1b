"""Plain domain values shared by every rung: states, result records, personal-field markers.

Nothing here imports the rest of the package; adapters and use cases exchange these.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"  # signed up, confirmation not clicked yet
    ACTIVE = "active"  # confirmed; receives digests
    PAUSED = "paused"  # chose to pause from the preferences page
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce suppressed the address
    ERASED = "erased"  # personal data gone; only a hashed suppression entry remains


class ConsentKind(enum.StrEnum):
    """What a consent-ledger entry records (개인정보보호법 제15·22조, 정보통신망법 제50조)."""

    CONSENT = "consent"  # the consent text was accepted (signup form, import, staff)
    CONFIRMATION = "confirmation"  # the double opt-in link was clicked
    WITHDRAWAL = "withdrawal"  # unsubscribed (one-click, page, preferences, staff)
    PAUSE = "pause"
    RESUME = "resume"
    NOTICE = "notice"  # a notice mail went out (result notice, re-confirmation, ...)
    ERASURE = "erasure"  # personal data destroyed; only hashes remain


class NoticeKind(enum.StrEnum):
    """Transactional mails about a subscription, each with templates/email/<template>.*."""

    CONFIRM = "confirm"  # double opt-in link
    WELCOME = "welcome"  # result notice of consent (정보통신망법 제50조⑦)
    ALREADY = "already"  # a signup for an address that already receives the digest
    WITHDRAWAL = "withdrawal"  # result notice of withdrawal (제50조⑦)
    ERASURE = "erasure"  # result notice of an erasure request
    RECONFIRM = "reconfirm"  # two-yearly re-confirmation (시행령 제62조의3)
    DATA_LINK = "data_link"  # a short-lived link to download or erase one's data, on request
    UNSUBSCRIBE_LINK = "unsubscribe_link"  # the unsubscribe link, asked for by address

    @property
    def template(self) -> str:
        return "confirm" if self is NoticeKind.CONFIRM else f"notice_{self.value}"


class EditionState(enum.StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker; in flight
    SENT = "sent"
    DEFERRED = "deferred"  # temporary failure; retried at next_attempt_at
    FAILED = "failed"  # permanent
    UNKNOWN = "unknown"  # in flight when a worker died; not resent automatically
    SKIPPED = "skipped"  # subscriber suppressed between queueing and sending


class FeedStatus(enum.StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FeedPollResult:
    """The outcome of polling one feed; ``feeds poll --json`` prints exactly these keys."""

    url: str
    status: FeedStatus
    new: int = 0
    error: str | None = None
    #: What the read warns about (shown by ``feeds list``; not part of the JSON contract).
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"url": self.url, "status": str(self.status), "new": self.new, "error": self.error}


@dataclass(frozen=True, slots=True)
class StoryView:
    """A story as a digest shows it (and as ``digest preview --format json`` prints it)."""

    title: str
    url: str
    source: str
    published: datetime
    summary: str
    also_reported_by: tuple[str, ...] = ()
    section: str = ""
    score: float = 0.0
    matched_keywords: tuple[str, ...] = ()
    #: The story row shown, and every row of its near-duplicate cluster (all are
    #: frozen into the edition so none of them is selected again next week).
    story_id: int = 0
    member_ids: tuple[int, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published": self.published.isoformat(),
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Edition:
    """One digest edition as frozen when it was created (design §4 "Editions").

    ``stories`` holds one plain dict per story shown (title, url, source, published,
    summary, also_reported_by, section, story_id, member_ids); ``html`` and ``text``
    carry :class:`PersonalField` markers where per-subscriber values go. ``reason``
    says why an edition was skipped (or paused/cancelled), else None. A skipped edition
    has no ``number`` and no parts: numbers are public and run without gaps.
    """

    id: int
    number: int | None
    schedule: str
    scheduled_for: datetime
    state: EditionState
    subject: str
    html: str
    text: str
    stories: list[dict[str, Any]]
    reason: str | None
    created_at: datetime
    #: {template name: version number} it was rendered from; None for an edition made
    #: before template versions existed (migration 0013) or from the files alone.
    template_versions: dict[str, int] | None = None


class PersonalField(enum.StrEnum):
    """Per-subscriber values substituted into a rendered edition at send time.

    Templates render once per edition with these markers in place of the values,
    so that the send step personalises prepared bytes instead of re-rendering.
    The markers are plain ASCII that survives HTML escaping and CSS inlining.
    """

    UNSUBSCRIBE_URL = "unsubscribe_url"
    PREFERENCES_URL = "preferences_url"
    NAME = "name"
    EMAIL = "email"

    @property
    def marker(self) -> str:
        return f"%%MAILER_{self.value.upper()}%%"


@dataclass(slots=True)
class DeliveryCounts:
    """How many deliveries of an edition are in each state."""

    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


def normalise_email(address: str) -> str:
    """The one canonical form of an address: trimmed, NFC, lower-cased.

    Local parts are case-sensitive on paper (RFC 5321 §2.4) but not at any mailbox
    provider subscribers use; folding case keeps one person from being two subscribers.
    """
    return unicodedata.normalize("NFC", address.strip()).lower()


@dataclass(frozen=True, slots=True)
class Links:
    """Public URLs built from MAILER_BASE_URL; every link in mail comes from here."""

    base_url: str

    def unsubscribe(self, token: str) -> str:
        return f"{self.base_url}/unsubscribe/{token}"

    def preferences(self, token: str) -> str:
        return f"{self.base_url}/preferences/{token}"

    def confirm(self, token: str) -> str:
        return f"{self.base_url}/confirm/{token}"

    def data_access(self, token: str) -> str:
        return f"{self.base_url}/my-data/{token}"

    def archive(self, number: int) -> str:
        return f"{self.base_url}/archive/{number}"

    def subscribe(self) -> str:
        return f"{self.base_url}/subscribe"

    def archive_index(self) -> str:
        return f"{self.base_url}/archive"

    def seminar_ics(self, session_id: str) -> str:
        return f"{self.base_url}/seminar/{session_id}.ics"


@dataclass(frozen=True, slots=True)
class IncomingStory:
    """One normalised, scored feed item as the poll step hands it to the store."""

    uid: str
    url: str
    guid: str | None
    title: str
    summary: str
    content_hash: str
    cluster_key: str
    relevance: float
    relevant: bool
    matched_keywords: tuple[str, ...]
    published_at: datetime


def retention_days_text(subscriptions) -> str:
    """``subscriptions.unsubscribed_retention_days`` as every text quotes it ("5", "0.5").

    One setting, told the same in the consent text, the pages and the mails (issue 15,
    item 9). Takes the settings' ``subscriptions`` section.
    """
    return f"{subscriptions.unsubscribed_retention_days:g}"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends the mail, as every footer states it (정보통신망법 제50조), and the (광고) switch.

    Staff edit it with the seminar block (its ``sender`` part); with no block in the
    database it comes from the ``[compliance]`` settings (:meth:`of`).
    """

    name: str
    name_en: str
    postal_address: str
    phone: str
    email: str
    reason: str
    reason_en: str
    advertisement: bool

    @classmethod
    def of(cls, compliance) -> Sender:
        """The sender of the ``[compliance]`` settings section."""
        return cls(
            name=compliance.sender_name,
            name_en=compliance.sender_name_en,
            postal_address=compliance.postal_address,
            phone=compliance.phone,
            email=compliance.email,
            reason=compliance.reason,
            reason_en=compliance.reason_en,
            advertisement=compliance.advertisement,
        )

    @classmethod
    def from_part(cls, part: dict[str, Any], compliance) -> Sender:
        """A stored block's ``sender`` part; a field it lacks comes from the settings."""
        fallback = cls.of(compliance)
        values = {name: part.get(name, getattr(fallback, name)) for name in cls.__slots__}
        values["advertisement"] = bool(values["advertisement"])
        return cls(**values)
