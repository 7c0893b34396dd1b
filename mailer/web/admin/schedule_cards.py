"""What one schedule's card on /admin/schedules shows: the view in words, the form's values, its errors.

Plain values for the templates: the schedule said in words in the page's language,
its next runs as "2026-12-07 (월) 09:00 KST", the grace window in hours and minutes,
and the edit form filled either from the stored cron (days and a time when it is that
shape) or from what staff typed, so a refused form loses nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from mailer import schedules
from mailer.errors import InvalidInputError

_KO_WEEKDAYS = "월화수목금토일"


@dataclass
class ScheduleForm:
    """The edit form's values: chosen days, "HH:MM", the cron field, the zone; which part is open."""

    days: tuple[str, ...] = ()
    time: str = ""
    cron: str = ""
    timezone: str = ""
    advanced: bool = False


@dataclass
class Card:
    view: schedules.ScheduleView
    label: str
    when: str
    next_runs: list[str]
    grace: str
    last_run: str | None
    form: ScheduleForm
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


def form_of(view: schedules.ScheduleView) -> ScheduleForm:
    """The form as the stored schedule fills it: days and a time when the cron says only that."""
    form = ScheduleForm(cron=view.cron, timezone=view.timezone)
    parts = view.cron.split()
    if len(parts) == 5 and parts[2:4] == ["*", "*"] and all(p.isdigit() for p in parts[:2]):
        minute, hour = int(parts[0]), int(parts[1])
        days = schedules.WEEKDAYS if parts[4] == "*" else schedules.weekdays_of(parts[4])
        if days is not None and hour < 24 and minute < 60:
            form.days = tuple(days) if parts[4] != "*" else ()
            form.time = f"{hour:02d}:{minute:02d}"
            return form
    form.advanced = True
    return form


def parse_time(text: str, /) -> tuple[int, int]:
    """ "09:30" → (9, 30); InvalidInputError(field="time") for anything else."""
    found = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2})?", text.strip())
    if found is None:
        raise InvalidInputError("the time must be HH:MM, e.g. 09:00", field="time")
    return int(found.group(1)), int(found.group(2))


def local_time(moment: datetime, zone: ZoneInfo, lang: str, /) -> str:
    """ "2026-12-07 (월) 09:00 KST" (Korean) or "Mon 2026-12-07 09:00 KST"."""
    local = moment.astimezone(zone)
    if lang == "en":
        return local.strftime("%a %Y-%m-%d %H:%M %Z")
    return f"{local:%Y-%m-%d} ({_KO_WEEKDAYS[local.weekday()]}) {local:%H:%M %Z}"


def grace_words(seconds: int, lang: str, /) -> str:
    """6 h 30 min as "6시간 30분" / "6 hours 30 minutes"; 0 as "없음" / "none"."""
    hours, minutes = divmod(seconds // 60, 60)
    if lang == "en":
        parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
        parts += [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
        return " ".join(parts) or ("none" if seconds == 0 else f"{seconds} seconds")
    parts = ([f"{hours}시간"] if hours else []) + ([f"{minutes}분"] if minutes else [])
    return " ".join(parts) or ("없음" if seconds == 0 else f"{seconds}초")


def card_for(
    view: schedules.ScheduleView,
    words: dict[str, str],
    lang: str,
    /,
    *,
    form: ScheduleForm | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Card:
    zone = ZoneInfo(view.timezone) if not view.problem else ZoneInfo("UTC")
    last = view.last_run
    return Card(
        view=view,
        label=words.get(f"schedule_kind_{view.kind}", view.name),
        when=view.described(language=lang),
        next_runs=[local_time(moment, zone, lang) for moment in view.next_runs],
        grace=grace_words(view.grace_seconds, lang),
        last_run=None
        if last is None
        else f"{local_time(last['fire_time'], zone, lang)} · {last['outcome']}",
        form=form or form_of(view),
        errors=errors or {},
        notice=notice,
    )


def error_text(error: InvalidInputError, words: dict[str, str], lang: str, /) -> tuple[str, str]:
    """(form field, message): the Korean sentence first, then the words ``mailer schedules set`` prints."""
    where = error.field or "cron"
    lead = words.get(f"schedule_error_{where}", words["schedule_error_cron"])
    if where in ("hour", "minute"):
        where, lead = "time", words["schedule_error_time"]
    return where, f"{lead} ({words['schedule_error_same']}: {error})"
