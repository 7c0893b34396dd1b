"""Rows the send tests need, inserted directly: editions rendered with markers, and subscribers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

from mailer.models import PersonalField
from mailer.store.db import write_transaction
from mailer.store.tables import deliveries, editions, installation, subscribers
from tests.helpers import TEST_KEYS

UNSUBSCRIBE = PersonalField.UNSUBSCRIBE_URL.marker
NAME = PersonalField.NAME.marker
EMAIL = PersonalField.EMAIL.marker
PREFERENCES = PersonalField.PREFERENCES_URL.marker

TEXT = (
    f"{NAME}님, 안녕하세요.\n\n"
    "시흥 바이오산업 주간 뉴스입니다. 이번 주 소식을 전해 드립니다.\n"
    "- 시흥시 K-바이오산업 육성전략 세미나 (시흥비즈니스센터)\n\n"
    f"이 메일은 {EMAIL} 주소로 보냈습니다.\n"
    f"수신거부 / Unsubscribe: {UNSUBSCRIBE}\n"
    f"설정 / Preferences: {PREFERENCES}\n"
)
HTML = (
    "<html><body><p>"
    f"{NAME}님, 안녕하세요.</p><p>시흥 바이오산업 주간 뉴스입니다.</p>"
    f'<p><a href="{UNSUBSCRIBE}">수신거부</a> · <a href="{PREFERENCES}">설정</a></p>'
    "</body></html>"
)


def add_edition(
    engine: Engine,
    *,
    number: int = 1,
    subject: str = "시흥 바이오산업 주간 뉴스 제1호",
    text: str = TEXT,
    html: str = HTML,
    state: str = "draft",
) -> int:
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        return conn.execute(
            insert(editions)
            .values(
                number=number,
                schedule="manual",
                scheduled_for=now - timedelta(minutes=number),
                state=state,
                subject=subject,
                html=html,
                text=text,
                stories=[],
                created_at=now,
            )
            .returning(editions.c.id)
        ).scalar_one()


def add_subscribers(
    engine: Engine,
    count: int,
    *,
    status: str = "active",
    prefix: str = "reader",
    name: str | None = "독자",
) -> list[int]:
    now = datetime.now(UTC)
    rows = [
        {
            "email": f"{prefix}{index}@example.kr",
            "name": f"{name}{index}" if name else None,
            "status": status,
            **TEST_KEYS.new_link(),
            "attributes": {},
            "source": "test",
            "created_at": now,
        }
        for index in range(count)
    ]
    with write_transaction(engine) as conn:
        conn.execute(insert(subscribers), rows)
        found = conn.execute(
            select(subscribers.c.id)
            .where(subscribers.c.email.in_([row["email"] for row in rows]))
            .order_by(subscribers.c.id)
        )
        return list(found.scalars())


def delivery_rows(engine: Engine, edition_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries, subscribers.c.email)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.edition_id == edition_id)
            .order_by(deliveries.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def edition_row(engine: Engine, edition_id: int) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(editions).where(editions.c.id == edition_id)).mappings().one()
        )


def message_id(engine: Engine, edition_id: int, subscriber_id: int) -> str:
    """The Message-ID a copy carries: fixed per (edition, subscriber) and installation."""
    with engine.connect() as conn:
        part = conn.execute(select(installation.c.message_id_part)).scalar_one()
    return f"<e{edition_id}.s{subscriber_id}.{part}@example.or.kr>"
