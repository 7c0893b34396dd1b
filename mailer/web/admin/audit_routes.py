"""The audit log page (/admin/audit, admins only): filters by account, action, days, client address; 100 rows a page.

Issue 12 item 8. A plain GET form, so a filtered view is an address one can keep; with
htmx the form and the "older" link swap only the list (the ``HX-Request`` header asks
for the fragment) and push the address. The page only reads: nobody edits or deletes
an audit row from the admin.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from mailer import staff
from mailer.web.admin.audit_text import KNOWN_ACTIONS, PREFIXES, describe_change
from mailer.web.admin.local_time import local_time
from mailer.web.admin.pages import Admin, StaffSession
from mailer.web.i18n import choose_language

router = APIRouter(prefix="/admin/audit")

#: The query's fields: name in the address → what the form shows.
FIELDS = ("account", "action", "from", "to", "client")


def _day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _wanted(query, words: dict[str, str]) -> tuple[staff.AuditFilter, dict, dict[str, str]]:
    typed = {name: query.get(name, "").strip()[:320] for name in FIELDS}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        try:
            days[name] = _day(typed[name])
        except ValueError:
            errors[name], days[name] = words["audit_bad_date"], None
    action = typed["action"]
    if action and action not in KNOWN_ACTIONS and action not in PREFIXES:
        errors["action"], action = words["audit_bad_action"], ""
    older = query.get("older", "")
    wanted = staff.AuditFilter(
        actor=typed["account"],
        action=action,
        first_day=days["from"],
        last_day=days["to"],
        client_address=typed["client"],
        older_than=int(older) if older.isdigit() else None,
    )
    return wanted, typed, errors


@router.get("")
async def audit_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "view_audit")
    lang = choose_language(request)
    words = admin.words[lang]
    wanted, typed, errors = _wanted(request.query_params, words)
    context = request.app.state.context
    page = await context.database.run(staff.find_audit, context, wanted, account=session)
    older_url = None
    if page.older is not None:
        kept = {name: value for name, value in typed.items() if value}
        kept.update(older=str(page.older), **({"lang": lang} if lang != "ko" else {}))
        older_url = "/admin/audit?" + urlencode(kept)
    values = {
        "entries": page.rows,
        "older_url": older_url,
        "typed": typed,
        "errors": errors,
        "continued": wanted.older_than is not None,
        "known_actions": KNOWN_ACTIONS,
        "prefixes": PREFIXES,
        "local": local_time(context.settings.zone),
        "local_zone": context.settings.timezone,
        "change": lambda detail: describe_change(detail, words),
    }
    # htmx asks for the list alone; a history restore wants the whole page.
    fragment = request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )
    name = "_audit_list.html" if fragment else "audit.html"
    response = admin.render(request, name, values, status=422 if errors else 200, lang=lang)
    response.headers["Vary"] = "HX-Request"
    return response
