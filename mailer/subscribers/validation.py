"""Subscriber input rules: address syntax and IDN, length limits, refusal of header injection.

One set of rules for the signup form, the preferences page, the CLI and CSV import.
Control characters (header injection) are refused everywhere; invisible and
text-direction characters (bidi controls such as U+202E, zero-width characters,
Hangul fillers: ``mailer.unsafe_text``) are refused in what a person types — the
signup and preferences forms, ``subscribers add`` — so that no mail greets anyone
by a name that reads differently from what is stored (issue 11). CSV import removes
them from names and organisations instead (``strip_invisible``): a spreadsheet
carries them invisibly from copy and paste, and nobody is at the form to fix them.
Problems are returned as codes per field (``Problem``) so that each entry point words
them in its own language (``FIELD_LIMITS`` gives the number a "too long" text names).
No DNS lookups are made: deliverability is proven by the double opt-in click instead.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from mailer.errors import InvalidSubscriberInput
from mailer.mail import smtp_address as smtp_address  # the wire form lives with SMTP
from mailer.models import normalise_email
from mailer.unsafe_text import find_unsafe, strip_unsafe

#: RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
MAX_ORGANISATION_LENGTH = 100

#: The longest value of each field, for the wording of a TOO_LONG problem.
FIELD_LIMITS = {
    "email": MAX_EMAIL_LENGTH,
    "name": MAX_NAME_LENGTH,
    "organisation": MAX_ORGANISATION_LENGTH,
}

#: A signup source tag (``?src=`` on a poster's URL): ASCII letters, digits, - _ . (≤ 40).
SOURCE_TAG = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class Problem(enum.StrEnum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    LINE_BREAK = "line_break"  # CR, LF or another control character: header injection
    INVISIBLE = "invisible"  # a bidi control, zero-width character or Hangul filler
    INVALID_EMAIL = "invalid_email"
    CONSENT_REQUIRED = "consent_required"
    CONFIRMATION_REQUIRED = "confirmation_required"  # an irreversible step's box not ticked


#: English wording for entry points without a page catalogue (CLI, import reports).
PROBLEM_TEXT = {
    Problem.REQUIRED: "is required",
    Problem.TOO_LONG: "is too long",
    Problem.LINE_BREAK: "must not contain line breaks or control characters",
    Problem.INVISIBLE: "must not contain invisible or text-direction characters",
    Problem.INVALID_EMAIL: "is not a valid email address",
    Problem.CONSENT_REQUIRED: "consent is required to subscribe",
    Problem.CONFIRMATION_REQUIRED: "must be ticked to confirm",
}


@dataclass(frozen=True, slots=True)
class SubscriberInput:
    """Cleaned signup data: ``email`` is canonical (see models.normalise_email)."""

    email: str
    name: str | None = None
    organisation: str | None = None


def has_control_characters(value: str) -> bool:
    """True for CR, LF, NUL, tab and every other control or line/paragraph separator.

    A CR or LF in anything that may reach a mail header is the classic header
    injection (RFC 5322 §2.2 forbids them in a header body); U+0085/U+2028/U+2029
    are refused too because some mail clients treat them as line ends.
    """
    return any(unicodedata.category(char) in {"Cc", "Zl", "Zp"} for char in value)


def check_email(value: str) -> tuple[str | None, Problem | None]:
    """Return (canonical address, None) or (None, problem)."""
    value = value.strip()
    if not value:
        return None, Problem.REQUIRED
    if has_control_characters(value):
        return None, Problem.LINE_BREAK
    if find_unsafe(value) is not None:
        return None, Problem.INVISIBLE
    if len(value) > MAX_EMAIL_LENGTH:
        return None, Problem.TOO_LONG
    try:
        # Syntax and IDN (UTS #46) only; check_deliverability=False means no DNS query.
        validated = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None, Problem.INVALID_EMAIL
    canonical = normalise_email(validated.normalized)
    if len(canonical) > MAX_EMAIL_LENGTH:
        return None, Problem.TOO_LONG
    return canonical, None


def check_text(
    value: str | None, *, limit: int, strip_invisible: bool = False
) -> tuple[str | None, Problem | None]:
    """An optional one-line text field: trimmed, None when empty.

    Invisible and text-direction characters are refused, or with ``strip_invisible``
    removed (control characters are refused either way).
    """
    if value is None:
        return None, None
    value = value.strip()
    if not value:
        return None, None
    if has_control_characters(value):
        return None, Problem.LINE_BREAK
    if strip_invisible:
        value = strip_unsafe(value).strip()
        if not value:
            return None, None
    elif find_unsafe(value) is not None:
        return None, Problem.INVISIBLE
    if len(value) > limit:
        return None, Problem.TOO_LONG
    return unicodedata.normalize("NFC", value), None


def check_subscriber(
    *,
    email: str,
    name: str | None = None,
    organisation: str | None = None,
    strip_invisible: bool = False,
) -> tuple[SubscriberInput | None, dict[str, Problem]]:
    """Validate every field at once so a form can show each problem next to its field.

    ``strip_invisible``: remove invisible characters from name and organisation instead
    of refusing them (CSV import; an address with them is always refused).
    """
    problems: dict[str, Problem] = {}
    canonical, problem = check_email(email)
    if problem:
        problems["email"] = problem
    clean_name, problem = check_text(name, limit=MAX_NAME_LENGTH, strip_invisible=strip_invisible)
    if problem:
        problems["name"] = problem
    clean_org, problem = check_text(
        organisation, limit=MAX_ORGANISATION_LENGTH, strip_invisible=strip_invisible
    )
    if problem:
        problems["organisation"] = problem
    if problems or canonical is None:
        return None, problems
    return SubscriberInput(email=canonical, name=clean_name, organisation=clean_org), {}


def check_signup(
    *, email: str, name: str | None = None, organisation: str | None = None, consented: bool
) -> SubscriberInput:
    """A signup's fields and its consent box, all at once; raises InvalidSubscriberInput.

    Without consent the signup is refused before any store work, and the other fields
    are checked too, so that a form shows every problem in one answer (개인정보보호법 제22조:
    consent is asked for separately and may be refused).
    """
    cleaned, problems = check_subscriber(email=email, name=name, organisation=organisation)
    if not consented:
        problems["consent"] = Problem.CONSENT_REQUIRED
    if problems or cleaned is None:
        raise invalid_subscriber_input(problems)
    return cleaned


def check_profile(*, name: str | None, organisation: str | None) -> tuple[str | None, str | None]:
    """The optional profile fields, cleaned; raises InvalidSubscriberInput per field."""
    clean_name, name_problem = check_text(name, limit=MAX_NAME_LENGTH)
    clean_org, org_problem = check_text(organisation, limit=MAX_ORGANISATION_LENGTH)
    problems = {
        field: problem
        for field, problem in (("name", name_problem), ("organisation", org_problem))
        if problem
    }
    if problems:
        raise invalid_subscriber_input(problems)
    return clean_name, clean_org


def require_subscriber(
    *, email: str, name: str | None = None, organisation: str | None = None
) -> SubscriberInput:
    """Like :func:`check_subscriber` but raise InvalidInputError naming the first bad field."""
    cleaned, problems = check_subscriber(email=email, name=name, organisation=organisation)
    if cleaned is None:
        raise invalid_subscriber_input(problems)
    return cleaned


def invalid_subscriber_input(problems: dict[str, Problem], /) -> InvalidSubscriberInput:
    """The error for a form with these problems; its message names the first bad field."""
    field, problem = next(iter(problems.items()))
    return InvalidSubscriberInput(problems, message=f"{field} {PROBLEM_TEXT[problem]}")
