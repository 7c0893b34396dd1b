"""Personal-field markers: how a part rendered once per edition carries each subscriber's values.

The contract (issue 4 item 5; the send step relies on it):

- An edition is rendered ONCE. Where a part needs a per-subscriber value, the
  template prints the context variable that holds the marker of a
  :class:`~mailer.models.PersonalField`: ``unsubscribe_url`` →
  ``%%MAILER_UNSUBSCRIBE_URL%%``, ``preferences_url`` → ``%%MAILER_PREFERENCES_URL%%``,
  ``subscriber_name`` → ``%%MAILER_NAME%%``, ``subscriber_email`` → ``%%MAILER_EMAIL%%``.
- Markers are plain ASCII without characters that HTML escaping or css-inline
  rewrite, so they reach the stored HTML and text byte for byte (tests check it).
- Markers may appear in the HTML part, the text part and (if staff put one there)
  the subject. The send step replaces every occurrence with the subscriber's value:
  URLs come from :class:`~mailer.models.Links` (URL-safe token, no escaping needed);
  a name or address substituted into the HTML part must be HTML-escaped
  (:func:`fill_personal_fields` does that); a missing name becomes "".
- Text from feeds can never forge a marker: :func:`defuse_markers` breaks any
  ``%%MAILER_`` sequence in untrusted strings with an invisible U+200B, so only the
  markers the template placed are substituted.
- In a quoted-printable body a soft line break may split a marker; substitute
  before encoding, or keep marker lines short (design §4 "Mail").
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping

from mailer.models import PersonalField

#: Context variable → marker, as every mail template receives them.
MARKER_VARIABLES: dict[str, str] = {
    "unsubscribe_url": PersonalField.UNSUBSCRIBE_URL.marker,
    "preferences_url": PersonalField.PREFERENCES_URL.marker,
    "subscriber_name": PersonalField.NAME.marker,
    "subscriber_email": PersonalField.EMAIL.marker,
}

_MARKER_START = re.compile(r"%%(?=MAILER_)")


def defuse_markers(text: str) -> str:
    """Make untrusted text unable to contain a personal-field marker (see module docstring)."""
    return _MARKER_START.sub("%\u200b%", text)


def fill_personal_fields(part: str, values: Mapping[PersonalField, str], /, *, html: bool) -> str:
    """Replace every marker in a rendered part with its value ("" when missing).

    ``html=True`` escapes the values, as they land in HTML text or attributes.
    """
    for field in PersonalField:
        value = values.get(field, "")
        part = part.replace(field.marker, html_lib.escape(value, quote=True) if html else value)
    return part
