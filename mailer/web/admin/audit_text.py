"""The audit log in words: the actions the admin knows, and a row's before/after as a readable line."""

from __future__ import annotations

#: Actions a filter can pick (each with a word ``action_<name>``), in the select's order.
KNOWN_ACTIONS = (
    "staff.login",
    "staff.login_failed",
    "staff.login_throttled",
    "staff.logout",
    "staff.password_set",
    "staff.password_changed",
    "user.add",
    "user.disable",
    "user.enable",
    "user.reset",
    "template.save",
    "template.rollback",
    "template.reset",
    "template.import",
    "template.test_send",
    "seminar.save",
    "seminar.rollback",
    "schedule.change",
    "schedule.pause",
    "schedule.resume",
    "digest.send_now",
)

#: Groups a filter can pick: every action starting with the prefix (word ``prefix_<name>``).
PREFIXES = ("staff.", "user.", "template.", "seminar.", "schedule.", "digest.")


def _value(key: str, value: object, words: dict[str, str]) -> str:
    if value is None or value == "":
        return "—"
    text = str(value)
    return words.get(f"{key}_{text}", text) if key in ("state", "role") else text


def describe_change(detail: dict | None, words: dict[str, str]) -> str:
    """ "상태: 비밀번호 설정 대기 → 사용 중지 · 역할: 편집자" from ``{"before": …, "after": …}``."""
    if not detail:
        return ""
    before, after = detail.get("before"), detail.get("after")
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return f"{_plain(before)} → {_plain(after)}" if before is not None else _plain(after)
    before, after = before or {}, after or {}
    parts = []
    for key in [*before, *(key for key in after if key not in before)]:
        label = words.get(f"audit_key_{key}", key)
        old, new = before.get(key), after.get(key)
        if key in before and old != new:
            parts.append(f"{label}: {_value(key, old, words)} → {_value(key, new, words)}")
        else:
            parts.append(f"{label}: {_value(key, new if key in after else old, words)}")
    extra = {key: value for key, value in detail.items() if key not in ("before", "after")}
    parts.extend(f"{key}: {_plain(value)}" for key, value in extra.items())
    return " · ".join(parts)


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_plain(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value)
    return "—" if value is None else str(value)
