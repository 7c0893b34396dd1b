"""What each mail template can use: the variables beside the editor, in Korean and English.

Issue 12 item 4. The table is written by hand (descriptions need words), and a test
builds the real contexts — :func:`mailer.digest.rendering.edition_context` and the
sample notice variables — and checks that every key they hold is described here, so
the list cannot drift from what the templates see.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateVariable:
    name: str
    description_ko: str
    description_en: str
    fields: tuple[str, ...] = ()


_MARKERS = (
    TemplateVariable(
        "unsubscribe_url", "수신거부 링크 (받는 사람마다 다름)", "Unsubscribe link (per subscriber)"
    ),
    TemplateVariable(
        "preferences_url",
        "수신 설정 링크 (받는 사람마다 다름)",
        "Preferences link (per subscriber)",
    ),
    TemplateVariable("subscriber_name", "받는 사람 이름", "Subscriber's name"),
    TemplateVariable("subscriber_email", "받는 사람 이메일 주소", "Subscriber's address"),
)

DIGEST_VARIABLES: tuple[TemplateVariable, ...] = (
    TemplateVariable("list_name", "뉴스레터 이름", "The newsletter's name"),
    TemplateVariable(
        "edition", "이번 호", "This edition", ("number", "date", "date_short", "date_en")
    ),
    TemplateVariable("story_count", "이번 호의 기사 수", "Number of stories in this edition"),
    TemplateVariable(
        "sections",
        "섹션 목록 (각 섹션의 기사)",
        "Sections, each with its stories",
        ("title", "count", "stories"),
    ),
    TemplateVariable(
        "stories",
        "섹션 안의 기사 (section.stories)",
        "A section's stories (section.stories)",
        (
            "index",
            "title",
            "url",
            "source",
            "date",
            "date_full",
            "published",
            "summary",
            "also_reported_by",
        ),
    ),
    TemplateVariable(
        "lead_title", "첫 기사 제목 (제목줄용)", "The first story's title (for the subject)"
    ),
    TemplateVariable("archive_url", "이번 호의 웹 보기 주소", "This edition on the web"),
    TemplateVariable("archive_index_url", "지난 호 목록 주소", "The archive of past editions"),
    TemplateVariable("subscribe_url", "구독 신청 페이지 주소", "The subscribe page"),
    TemplateVariable(
        "seminar",
        "세미나 안내 (없으면 비어 있음)",
        "The seminar block (empty when there is none)",
        (
            "title",
            "title_en",
            "host",
            "organiser",
            "venue",
            "venue_address",
            "summary",
            "summary_en",
            "apply",
            "apply_en",
            "apply_url",
            "sessions",
            "contact",
        ),
    ),
    TemplateVariable(
        "seminar.sessions",
        "앞으로 열릴 세미나 회차",
        "The seminar's sessions still to come",
        ("id", "number", "title", "date", "date_en", "time", "venue", "speakers", "ics_url"),
    ),
    TemplateVariable(
        "next_session",
        "다음 세미나 회차 (제목줄용, 없으면 비어 있음)",
        "The next session (for the subject; empty when none)",
        ("number", "title", "date", "date_short"),
    ),
    TemplateVariable(
        "sender",
        "보내는 곳 (법정 표기)",
        "The sender (legal footer)",
        ("name", "name_en", "postal_address", "phone", "email"),
    ),
    TemplateVariable("reason", "수신 이유", "Why the reader gets this mail"),
    TemplateVariable("reason_en", "수신 이유 (영문)", "Why the reader gets this mail (English)"),
    TemplateVariable("advertisement", "(광고) 표시 여부", "Whether the mail counts as advertising"),
    *_MARKERS,
)

NOTICE_VARIABLES: tuple[TemplateVariable, ...] = (
    TemplateVariable("list_name", "뉴스레터 이름", "The newsletter's name"),
    TemplateVariable("sender_name", "보내는 곳 이름", "The sender's name"),
    TemplateVariable("sender_name_en", "보내는 곳 이름 (영문)", "The sender's name (English)"),
    TemplateVariable("postal_address", "보내는 곳 주소", "The sender's postal address"),
    TemplateVariable("phone", "보내는 곳 전화번호", "The sender's phone"),
    TemplateVariable("contact_email", "문의 이메일", "Contact address"),
    TemplateVariable("subscribe_url", "구독 신청 페이지 주소", "The subscribe page"),
    TemplateVariable(
        "name", "받는 사람 이름 (없을 수 있음)", "The subscriber's name (may be empty)"
    ),
    TemplateVariable(
        "preferences_url",
        "수신 설정 링크 (동의한 구독자에게만)",
        "Preferences link (subscribed readers only)",
    ),
    TemplateVariable(
        "unsubscribe_url",
        "수신거부 링크 (동의한 구독자에게만)",
        "Unsubscribe link (subscribed readers only)",
    ),
    TemplateVariable("retention_days", "개인정보 보유 기간", "How long personal data is kept"),
    TemplateVariable("pending_days", "미확인 신청 보관 일수", "Days an unconfirmed signup is kept"),
    TemplateVariable("action_at", "처리 일시", "When it was done"),
    TemplateVariable("confirm_url", "구독 확인 링크 (confirm)", "Confirmation link (confirm)"),
    TemplateVariable(
        "data_url", "내 정보 보기·삭제 링크 (data_link)", "Data access link (data_link)"
    ),
    TemplateVariable("expires_at", "링크 만료 일시", "When the link expires"),
    TemplateVariable("consented_at", "수신 동의 일시", "When the reader consented"),
    TemplateVariable(
        "subject",
        "제목: 텍스트 템플릿 맨 위에서 {% set subject = … %}",
        "The subject: set at the top of the text template",
    ),
)


def template_variables(name: str, /) -> list[TemplateVariable]:
    """The variables template ``name`` can use (the digest's or the notices')."""
    return list(DIGEST_VARIABLES if name.startswith("digest.") else NOTICE_VARIABLES)
