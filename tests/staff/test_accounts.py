"""Staff accounts on SQLite and PostgreSQL: one-time links (24 h, once), reset, disable, the first admin, log-in checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mailer import staff
from mailer.errors import InvalidInputError, NotFoundError
from mailer.store.db import write_transaction
from mailer.store.tables import staff_password_links, staff_users

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
GOOD = "시흥 바이오 세미나 2027"
OTHER = "correct horse battery staple"


def token_of(link: staff.PasswordLink) -> str:
    prefix = "/admin/set-password/"
    assert prefix in link.url
    return link.url.rsplit(prefix, 1)[1]


def stored_user(context, email: str) -> dict:
    with context.engine.connect() as conn:
        return dict(
            conn.execute(select(staff_users).where(staff_users.c.email == email)).mappings().one()
        )


def test_a_new_user_gets_a_link_that_sets_the_password_once(context):
    user, link = staff.add_user(context, " Kim@Example.KR ", role="editor", now=NOW)
    assert (user.email, user.role, user.state) == ("kim@example.kr", "editor", "invited")
    assert link.url.startswith(context.settings.base_url.rstrip("/") + "/admin/set-password/")
    assert link.expires_at == NOW + timedelta(hours=24)
    token = token_of(link)
    # Only the token's hash is stored.
    with context.engine.connect() as conn:
        hashes = conn.execute(select(staff_password_links.c.token_hash)).scalars().all()
    assert len(hashes) == 1 and token not in hashes[0]
    assert staff.open_link(context, token, now=NOW).email == "kim@example.kr"

    done = staff.set_password_with_link(context, token, GOOD, now=NOW + timedelta(hours=1))
    assert done.state == "active"
    assert stored_user(context, "kim@example.kr")["password_hash"].startswith("$argon2id$")
    assert staff.verify_password(context, "KIM@example.kr", GOOD).email == "kim@example.kr"
    assert staff.verify_password(context, "kim@example.kr", OTHER) is None

    with pytest.raises(InvalidInputError) as used:
        staff.set_password_with_link(context, token, OTHER, now=NOW + timedelta(hours=2))
    assert used.value.field == "token"
    assert staff.verify_password(context, "kim@example.kr", GOOD) is not None


def test_a_link_works_for_24_hours_and_not_a_second_longer(context):
    _, first = staff.add_user(context, "a@example.kr", role="editor", now=NOW)
    _, second = staff.add_user(context, "b@example.kr", role="editor", now=NOW)
    last_moment = NOW + timedelta(hours=24) - timedelta(seconds=1)
    assert staff.set_password_with_link(context, token_of(first), GOOD, now=last_moment)
    with pytest.raises(InvalidInputError, match="expired"):
        staff.open_link(context, token_of(second), now=NOW + timedelta(hours=24))
    with pytest.raises(InvalidInputError):
        staff.set_password_with_link(context, token_of(second), GOOD, now=NOW + timedelta(hours=24))
    assert stored_user(context, "b@example.kr")["password_hash"] is None


def test_a_refused_password_leaves_the_link_usable(context):
    _, link = staff.add_user(context, "kim@example.kr", role="admin", now=NOW)
    for bad in ("short", "password123", "kim@example.kr"):
        with pytest.raises(staff.PasswordRefused):
            staff.set_password_with_link(context, token_of(link), bad, now=NOW)
    assert staff.set_password_with_link(context, token_of(link), GOOD, now=NOW).state == "active"


def test_an_unknown_token_opens_nothing(context):
    with pytest.raises(InvalidInputError) as unknown:
        staff.open_link(context, "NoSuchToken0123456789abcdefXYZ", now=NOW)
    assert unknown.value.field == "token"


def test_reset_kills_the_old_links_and_the_old_password(context):
    _, first = staff.add_user(context, "kim@example.kr", role="editor", now=NOW)
    staff.set_password_with_link(context, token_of(first), GOOD, now=NOW)
    earlier = staff.reset_link(context, "kim@example.kr", now=NOW + timedelta(minutes=1))
    latest = staff.reset_link(context, "Kim@example.kr", now=NOW + timedelta(minutes=2))
    assert staff.verify_password(context, "kim@example.kr", GOOD) is None
    assert staff.list_users(context)[0].state == "invited"
    for dead in (first, earlier):
        with pytest.raises(InvalidInputError):
            staff.open_link(context, token_of(dead), now=NOW + timedelta(minutes=3))
    staff.set_password_with_link(context, token_of(latest), OTHER, now=NOW + timedelta(minutes=3))
    assert staff.verify_password(context, "kim@example.kr", OTHER) is not None


def test_disable_stops_log_in_and_links_and_enable_brings_log_in_back(context):
    staff.add_user(context, "boss@example.kr", role="admin", password=GOOD, now=NOW)
    _, link = staff.add_user(context, "kim@example.kr", role="editor", now=NOW)
    staff.add_user(context, "lee@example.kr", role="editor", password=OTHER, now=NOW)
    assert staff.disable_user(context, "kim@example.kr", now=NOW).state == "disabled"
    assert staff.disable_user(context, "lee@example.kr", now=NOW).state == "disabled"
    with pytest.raises(InvalidInputError):
        staff.set_password_with_link(context, token_of(link), GOOD, now=NOW)
    assert staff.verify_password(context, "lee@example.kr", OTHER) is None
    with pytest.raises(InvalidInputError, match="enable"):
        staff.reset_link(context, "lee@example.kr", now=NOW)
    assert staff.enable_user(context, "lee@example.kr", now=NOW).state == "active"
    assert staff.verify_password(context, "lee@example.kr", OTHER) is not None
    states = {user.email: user.state for user in staff.list_users(context)}
    assert states == {
        "boss@example.kr": "active",
        "kim@example.kr": "disabled",
        "lee@example.kr": "active",
    }


def test_the_only_enabled_admin_cannot_be_disabled(context):
    staff.add_user(context, "boss@example.kr", role="admin", password=GOOD, now=NOW)
    with pytest.raises(InvalidInputError, match="only enabled admin"):
        staff.disable_user(context, "boss@example.kr", now=NOW)
    staff.add_user(context, "deputy@example.kr", role="admin", password=OTHER, now=NOW)
    assert staff.disable_user(context, "boss@example.kr", now=NOW).disabled


def test_input_errors_and_missing_users(context):
    staff.add_user(context, "kim@example.kr", role="editor", now=NOW)
    with pytest.raises(InvalidInputError, match="exists already"):
        staff.add_user(context, "KIM@example.kr", role="admin", now=NOW)
    with pytest.raises(InvalidInputError) as role:
        staff.add_user(context, "lee@example.kr", role="owner", now=NOW)
    assert role.value.field == "role"
    with pytest.raises(InvalidInputError) as address:
        staff.add_user(context, "not an address", role="editor", now=NOW)
    assert address.value.field == "email"
    with pytest.raises(staff.PasswordRefused):
        staff.add_user(context, "lee@example.kr", role="editor", password="qwertyuiop", now=NOW)
    for action in (staff.disable_user, staff.enable_user, staff.reset_link):
        with pytest.raises(NotFoundError):
            action(context, "nobody@example.kr", now=NOW)
    assert [user.email for user in staff.list_users(context)] == ["kim@example.kr"]


def test_the_database_refuses_a_role_it_does_not_know(context):
    with pytest.raises(IntegrityError), write_transaction(context.engine) as conn:
        conn.execute(
            insert(staff_users).values(
                email="x@example.kr", role="owner", disabled=False, created_at=NOW, updated_at=NOW
            )
        )


def test_the_first_admin_link_creates_an_admin_once_and_only_while_there_is_none(context):
    first = staff.first_admin_link(context, now=NOW)
    second = staff.first_admin_link(context, now=NOW + timedelta(minutes=1))
    assert first is not None and second is not None and first.purpose == "first_admin"
    # A new start-up link kills the one printed before.
    with pytest.raises(InvalidInputError):
        staff.open_link(context, token_of(first), now=NOW + timedelta(minutes=2))
    assert staff.open_link(context, token_of(second), now=NOW).email is None
    with pytest.raises(InvalidInputError) as no_email:
        staff.set_password_with_link(context, token_of(second), GOOD, now=NOW)
    assert no_email.value.field == "email"

    admin = staff.set_password_with_link(
        context, token_of(second), GOOD, email="Boss@Example.kr", now=NOW
    )
    assert (admin.email, admin.role, admin.state) == ("boss@example.kr", "admin", "active")
    assert staff.first_admin_link(context, now=NOW) is None
    with pytest.raises(InvalidInputError):
        staff.set_password_with_link(
            context, token_of(second), OTHER, email="x@example.kr", now=NOW
        )


def test_a_first_admin_link_dies_when_an_admin_is_made_another_way(context):
    link = staff.first_admin_link(context, now=NOW)
    staff.add_user(context, "boss@example.kr", role="admin", password=GOOD, now=NOW)
    with pytest.raises(InvalidInputError):
        staff.set_password_with_link(context, token_of(link), OTHER, email="x@example.kr", now=NOW)
    assert [user.email for user in staff.list_users(context)] == ["boss@example.kr"]


def test_a_disabled_admin_is_no_admin_for_the_first_admin_link(context):
    staff.add_user(context, "boss@example.kr", role="admin", password=GOOD, now=NOW)
    with write_transaction(context.engine) as conn:
        conn.execute(update(staff_users).values(disabled=True))
    assert staff.first_admin_link(context, now=NOW) is not None


def test_log_in_replaces_an_outdated_hash(context):
    staff.add_user(context, "kim@example.kr", role="editor", password=GOOD, now=NOW)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
    with write_transaction(context.engine) as conn:
        conn.execute(update(staff_users).values(password_hash=weak))
    assert staff.verify_password(context, "kim@example.kr", GOOD) is not None
    renewed = stored_user(context, "kim@example.kr")["password_hash"]
    assert renewed != weak and renewed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert staff.verify_password(context, "kim@example.kr", GOOD) is not None
