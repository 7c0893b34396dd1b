"""Signup material for posters and other sites: the tagged signup URL, its QR code, an embeddable form, the source.

A tag (``?src=poster-2026``) travels from a poster's QR code or another site's form
to the signup page and into the consent ledger as the signup's source (``web:poster-2026``),
so that staff can tell which invitation brought whom.
"""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING

from mailer.errors import InvalidInputError
from mailer.models import Links
from mailer.subscribers.validation import SOURCE_TAG

if TYPE_CHECKING:
    from mailer.config import Settings

#: The formats a signup QR code is drawn in.
QR_FORMATS = ("png", "svg")
#: Pixels per QR module a poster may ask for.
QR_SCALES = range(1, 101)

#: The languages the embeddable form is written in.
FORM_LANGUAGES = ("ko", "en")

_FORM_WORDS = {
    "ko": ("이메일 주소", "이름 (선택)", "뉴스레터 구독하기"),
    "en": ("Email address", "Name (optional)", "Subscribe to the newsletter"),
}

_FORM = """<!-- {list_name}: signup form. It opens the signup page with the address filled in;
     the consent text is read and accepted there (개인정보보호법 제15조). -->
<form method="get" action="{action}" accept-charset="utf-8" lang="{lang}"
      style="max-width:28rem;font-family:sans-serif;line-height:1.5">
  <label for="mailer-email" style="display:block;font-weight:600">{email_label}</label>
  <input id="mailer-email" name="email" type="email" autocomplete="email" required
         style="width:100%;padding:.6rem;font-size:1rem;border:2px solid #8c959f;border-radius:6px">
  <label for="mailer-name" style="display:block;font-weight:600;margin-top:.5rem">{name_label}</label>
  <input id="mailer-name" name="name" type="text" autocomplete="name"
         style="width:100%;padding:.6rem;font-size:1rem;border:2px solid #8c959f;border-radius:6px">
  <input type="hidden" name="lang" value="{lang}">{source_field}
  <button type="submit" style="margin-top:.75rem;padding:.6rem 1.2rem;font-size:1rem;font-weight:600;
          background:#0b6e4f;color:#fff;border:0;border-radius:6px">{button}</button>
</form>
"""


def signup_source(tag: str, /, *, channel: str = "web") -> str:
    """The ledger source of a signup that came with ``tag``: ``web:tag``, or ``web`` for a foreign tag.

    The tag arrives from anyone's URL, so one that is not of our form is dropped
    rather than refused: the signup itself is still wanted.
    """
    return f"{channel}:{tag}" if SOURCE_TAG.fullmatch(tag) else channel


def signup_url(settings: Settings, /, *, source: str | None = None) -> str:
    """The public signup page's URL, tagged with ``source``; InvalidInputError for a malformed tag."""
    url = Links(settings.base_url).subscribe()
    if source:
        if not SOURCE_TAG.fullmatch(source):
            raise InvalidInputError(
                "a source tag may hold ASCII letters, digits, - _ . (≤ 40)", field="source"
            )
        url += f"?src={source}"
    return url


def signup_qr(
    settings: Settings, /, *, fmt: str, source: str | None = None, scale: int = 10
) -> bytes:
    """A QR code of the (tagged) signup URL for posters, as PNG or SVG bytes; SVG is titled with the URL.

    InvalidInputError for another format, a scale outside 1–100 or a malformed tag.
    """
    if fmt not in QR_FORMATS:
        raise InvalidInputError("the QR file must be .png or .svg", field="fmt")
    if scale not in QR_SCALES:
        raise InvalidInputError("the QR scale must be 1 to 100 pixels per module", field="scale")
    url = signup_url(settings, source=source)
    import segno  # only QR codes need it

    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    extra = {"title": url} if fmt == "svg" else {}
    code.save(buffer, kind=fmt, scale=scale, border=4, **extra)
    return buffer.getvalue()


def signup_form_snippet(
    settings: Settings, /, *, lang: str = "ko", source: str | None = None
) -> str:
    """An HTML form to embed in another site; it leads to the signup page, where consent is given."""
    if lang not in FORM_LANGUAGES:
        raise InvalidInputError("the form's language must be ko or en", field="lang")
    email_label, name_label, button = _FORM_WORDS[lang]
    action = signup_url(settings, source=source).split("?", 1)[0]
    source_field = (
        f'\n  <input type="hidden" name="src" value="{html.escape(source)}">' if source else ""
    )
    return _FORM.format(
        list_name=html.escape(settings.compliance.list_name),
        action=html.escape(action),
        lang=lang,
        email_label=email_label,
        name_label=name_label,
        button=button,
        source_field=source_field,
    )
