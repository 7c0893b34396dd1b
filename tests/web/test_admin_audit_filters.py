"""The audit page's filters over real HTTP: account, action and group, days in the configured zone, client address; 100 a page; the htmx fragment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mailer import staff
from tests.web.admin_support import add_staff, admin_site

#: 2025-12-02 07:42 UTC is 16:42 in Seoul.
AT = datetime(2025, 12, 2, 7, 42, tzinfo=UTC)


def entries(html: str) -> list[str]:
    """The targets of the listed rows, in page order."""
    return re.findall(r"</code> · ([^<\n]+)</p>", html)


def seed(site) -> None:
    add = staff.audit
    ctx = site.context
    add(
        ctx,
        "user.add",
        actor="kim@example.kr",
        client="203.0.113.7",
        target="lee@example.kr",
        after={"role": "editor", "state": "invited"},
        now=AT,
    )
    add(
        ctx,
        "user.disable",
        actor="kim@example.kr",
        client="198.51.100.2",
        target="lee@example.kr",
        before={"role": "editor", "state": "invited"},
        after={"role": "editor", "state": "disabled"},
        now=AT + timedelta(hours=1),
    )
    add(
        ctx,
        "schedule.change",
        actor="park@example.kr",
        client="203.0.113.7",
        target="weekly",
        before={"cron": "0 9 * * mon"},
        after={"cron": "0 10 * * tue"},
        now=AT - timedelta(days=1),
    )
    # 23:30 on 2 December in Seoul is still 2 December there (14:30 UTC).
    add(
        ctx,
        "template.save",
        actor="park@example.kr",
        client="203.0.113.7",
        target="digest.html",
        now=datetime(2025, 12, 2, 14, 30, tzinfo=UTC),
    )


def test_filters_narrow_the_list_and_times_read_in_the_zone(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        seed(site)
        http = site.log_in("kim@example.kr")
        everything = http.get("/admin/audit")
        assert everything.status_code == 200
        assert "2025-12-02 16:42 KST" in everything.text
        assert "상태: 비밀번호 설정 대기 → 사용 중지" in everything.text
        assert "cron: 0 9 * * mon → 0 10 * * tue" in everything.text
        assert 'id="audit-list"' in everything.text and 'hx-push-url="true"' in everything.text
        # No form of the page changes or deletes a row.
        assert 'method="post" action="/admin/audit' not in everything.text

        def targets(**query) -> list[str]:
            page = http.get("/admin/audit", params=query)
            assert page.status_code == 200, page.text
            return entries(page.text)

        assert targets(account="PARK@example.kr") == ["digest.html", "weekly"]
        assert targets(action="user.disable") == ["lee@example.kr"]
        assert targets(action="user.", account="kim@example.kr") == [
            "lee@example.kr",
            "lee@example.kr",
        ]
        assert targets(client="198.51.100.2") == ["lee@example.kr"]
        assert targets(**{"from": "2025-12-02", "to": "2025-12-02"}) == [
            "digest.html",
            "lee@example.kr",
            "lee@example.kr",
        ]
        assert targets(to="2025-12-01") == ["weekly"]
        assert targets(**{"from": "2025-12-03", "to": "2025-12-31"}) == []
        bad = http.get("/admin/audit", params={"from": "12/02/2026", "action": "drop.table"})
        assert bad.status_code == 422
        assert 'id="from-error">날짜는 2026-12-02처럼' in bad.text
        assert 'id="action-error">' in bad.text


def test_a_hundred_a_page_with_an_older_link_and_the_htmx_fragment(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        for minute in range(205):
            staff.audit(
                site.context,
                "staff.login",
                actor="lee@example.kr",
                client="192.0.2.1",
                target=f"n{minute:03}",
                now=AT + timedelta(minutes=minute),
            )
        http = site.log_in("kim@example.kr")
        first = http.get("/admin/audit", params={"account": "lee@example.kr"})
        shown = entries(first.text)
        assert len(shown) == 100 and shown[0] == "n204" and shown[-1] == "n105"
        older = (
            re.search(r'<a class="older" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
        )
        assert "account=lee%40example.kr" in older
        second = http.get(older)
        assert entries(second.text)[0] == "n104" and len(entries(second.text)) == 100
        third_url = re.search(r'<a class="older" href="([^"]+)"', second.text).group(1)
        # htmx asks for the list alone: no page around it, the older link still there.
        fragment = http.get(third_url.replace("&amp;", "&"), headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and "<form" not in fragment.text
        assert entries(fragment.text) == ["n004", "n003", "n002", "n001", "n000"]
        assert 'class="older"' not in fragment.text and "최신 기록으로" in fragment.text
        restore = http.get(
            third_url.replace("&amp;", "&"),
            headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
        )
        assert "<html" in restore.text


def test_an_editor_may_not_read_the_audit_log(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "lee@example.kr", "editor")
        page = site.log_in("lee@example.kr").get("/admin/audit", params={"action": "user."})
        assert page.status_code == 403 and "권한이 없습니다" in page.text
