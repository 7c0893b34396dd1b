"""Render edited templates as they would go out: the next edition with the real stories, or a sample notice.

What the template editor's live preview shows and what a save renders first
(issue 12 item 4). Unsaved sources come in as ``overrides`` over the active versions;
every render runs in the bounded render processes, so an endless loop or a runaway
macro comes back as a :class:`TemplateProblem` (the time or memory limit), never a
hang. Nothing is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailer.digest.preview import SAMPLE_NAME, SAMPLE_TOKEN, sample_part
from mailer.digest.rendering import render_next_edition
from mailer.digest.template_checks import (
    TemplateWarning,
    size_warning,
    source_warnings,
    unsubscribe_warning,
)
from mailer.errors import MailerError, TemplateError
from mailer.models import Links, retention_days_text
from mailer.render import MailRenderer, local_time, render_notice
from mailer.schedules import cron_trigger
from mailer.store import schedules as schedule_store
from mailer.store import template_versions as store

if TYPE_CHECKING:
    from mailer.context import AppContext

#: Every template under templates/email/ (tests check the list against the directory).
EDITABLE_TEMPLATES: tuple[str, ...] = (
    "digest.subject.j2",
    "digest.html.j2",
    "digest.txt.j2",
    "confirm.txt.j2",
    "confirm.html.j2",
    "notice_welcome.txt.j2",
    "notice_welcome.html.j2",
    "notice_already.txt.j2",
    "notice_already.html.j2",
    "notice_reconfirm.txt.j2",
    "notice_reconfirm.html.j2",
    "notice_withdrawal.txt.j2",
    "notice_withdrawal.html.j2",
    "notice_erasure.txt.j2",
    "notice_erasure.html.j2",
    "notice_data_link.txt.j2",
    "notice_data_link.html.j2",
    "notice_unsubscribe_link.txt.j2",
    "notice_unsubscribe_link.html.j2",
    "_notice_layout.html.j2",
    "_notice_footer.txt.j2",
)

#: Notices that carry the subscriber's unsubscribe link (the others go to addresses
#: that receive nothing, or are the withdrawal's own result).
NOTICES_WITH_UNSUBSCRIBE = frozenset(
    {"notice_welcome", "notice_already", "notice_reconfirm", "notice_unsubscribe_link"}
)


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    template: str | None
    line: int | None


@dataclass(frozen=True)
class TemplatePreview:
    subject: str
    html: str
    text: str
    problem: TemplateProblem | None
    warnings: list[TemplateWarning]


def is_digest_template(name: str, /) -> bool:
    return name.startswith("digest.")


def notice_of(name: str, /) -> str:
    """The notice a notice template (or a shared partial) is previewed and checked in."""
    if name.startswith("_notice_"):
        return "notice_welcome"
    return name.split(".", 1)[0]


def active_sources(ctx: AppContext, /) -> dict[str, str]:
    with ctx.engine.connect() as conn:
        return {name: source for name, (_n, source) in store.active_sources(conn).items()}


def preview_templates(
    ctx: AppContext,
    name: str,
    /,
    *,
    overrides: dict[str, str],
    now: datetime | None = None,
    scheduled_for: datetime | None = None,
) -> TemplatePreview:
    """The part ``name`` belongs to, rendered with ``overrides`` over the active versions."""
    now = now or datetime.now(UTC)
    try:
        if is_digest_template(name):
            preview = _digest_preview(ctx, overrides, now=now, scheduled_for=scheduled_for)
        else:
            preview = _notice_preview(ctx, name, overrides, now=now)
    except TemplateError as exc:
        problem = TemplateProblem(exc.reason, exc.template, exc.line)
        return TemplatePreview("", "", "", problem, [])
    except MailerError as exc:  # a context that cannot be built (a broken seminar file …)
        return TemplatePreview("", "", "", TemplateProblem(str(exc), None, None), [])
    source = overrides.get(name)
    if source is None:
        source = active_sources(ctx).get(name) or _shipped(ctx, name)
    return TemplatePreview(
        preview.subject,
        preview.html,
        preview.text,
        None,
        [*source_warnings(name, source), *preview.warnings],
    )


def _shipped(ctx: AppContext, name: str, /) -> str:
    path = ctx.settings.templates_dir / "email" / name
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def next_digest_time(ctx: AppContext, /, *, now: datetime) -> datetime:
    """When the digest schedule fires next (``now`` without one), what the preview is dated."""
    with ctx.engine.connect() as conn:
        row = schedule_store.get_schedule(conn, "digest")
    if row is None:
        return now
    try:
        fire = cron_trigger(row["cron"], row["timezone"]).get_next_fire_time(None, now)
    except MailerError:
        return now
    return fire.astimezone(UTC) if fire else now


def _digest_preview(
    ctx: AppContext, overrides: dict[str, str], /, *, now: datetime, scheduled_for: datetime | None
) -> TemplatePreview:
    rendered = render_next_edition(
        ctx,
        schedule="digest",
        scheduled_for=scheduled_for or next_digest_time(ctx, now=now),
        now=now,
        preview=True,
        overrides={k: v for k, v in overrides.items() if is_digest_template(k)},
    )
    settings = ctx.settings
    unsubscribe = Links(settings.base_url).unsubscribe(SAMPLE_TOKEN)
    warnings = [
        *size_warning(rendered.html),
        *unsubscribe_warning(rendered.html, unsubscribe_url=unsubscribe, part="html"),
        *unsubscribe_warning(rendered.text, unsubscribe_url=unsubscribe, part="text"),
    ]
    return TemplatePreview(
        subject=sample_part(rendered.subject, settings, html=False),
        html=sample_part(rendered.html, settings, html=True),
        text=sample_part(rendered.text, settings, html=False),
        problem=None,
        warnings=warnings,
    )


def sample_notice_variables(ctx: AppContext, notice: str, /, *, now: datetime) -> dict[str, Any]:
    """What the notice ``notice`` sees when it is built for the sample subscriber."""
    settings = ctx.settings
    compliance = settings.compliance
    links = Links(settings.base_url)
    zone = settings.zone
    expires = local_time(now + timedelta(hours=settings.subscriptions.confirm_ttl_hours), zone)
    variables: dict[str, Any] = {
        "list_name": compliance.list_name,
        "sender_name": compliance.sender_name,
        "sender_name_en": compliance.sender_name_en,
        "postal_address": compliance.postal_address,
        "phone": compliance.phone,
        "contact_email": compliance.email,
        "subscribe_url": links.subscribe(),
        "name": SAMPLE_NAME,
        "preferences_url": None,
        "unsubscribe_url": None,
        "retention_days": retention_days_text(settings.subscriptions),
        "pending_days": settings.subscriptions.pending_retention_days,
        "action_at": local_time(now, zone),
    }
    if notice == "confirm":
        variables["confirm_url"] = links.confirm(SAMPLE_TOKEN)
        variables["expires_at"] = expires
    elif notice == "notice_data_link":
        variables["data_url"] = links.data_access(SAMPLE_TOKEN)
        variables["expires_at"] = expires
    if notice in NOTICES_WITH_UNSUBSCRIBE:
        variables["unsubscribe_url"] = links.unsubscribe(SAMPLE_TOKEN)
    if notice in ("notice_welcome", "notice_already", "notice_reconfirm"):
        variables["preferences_url"] = links.preferences(SAMPLE_TOKEN)
        variables["consented_at"] = local_time(now, zone)
    return variables


def notice_templates_renderer(ctx: AppContext, sources: dict[str, str], /) -> MailRenderer:
    """The notices' renderer (Jinja's default whitespace) over ``sources``, on the shared pool."""
    return MailRenderer(
        ctx.settings.templates_dir / "email",
        overrides={k: v for k, v in sources.items() if not is_digest_template(k)},
        max_bytes=ctx.settings.digest.max_part_bytes,
        trim_blocks=False,
        pool=ctx.render_pool.get(),
    )


def _notice_preview(
    ctx: AppContext, name: str, overrides: dict[str, str], /, *, now: datetime
) -> TemplatePreview:
    notice = notice_of(name)
    sources = {**active_sources(ctx), **overrides}
    variables = sample_notice_variables(ctx, notice, now=now)
    rendered = render_notice(notice_templates_renderer(ctx, sources), notice, variables)
    warnings = size_warning(rendered.html)
    if notice in NOTICES_WITH_UNSUBSCRIBE:
        url = variables["unsubscribe_url"]
        warnings += unsubscribe_warning(rendered.html, unsubscribe_url=url, part="html")
        warnings += unsubscribe_warning(rendered.text, unsubscribe_url=url, part="text")
    return TemplatePreview(rendered.subject, rendered.html, rendered.text, None, warnings)
