"""The "mail a link to this address" forms (/my-data, /unsubscribe): one way to answer them.

Both give the same answer whether or not the address is on the list, are throttled
per IP by their use case, show the typed address again with the failed field marked,
and answer a success with a redirect (POST-redirect-GET: a reload sends nothing again).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from mailer.errors import InvalidSubscriberInput, SignupThrottled
from mailer.web.forms import Csrf, field
from mailer.web.i18n import choose_language
from mailer.web.pages import PublicPages, client_ip

#: How much of a submitted address the form shows again.
SHOWN_LENGTH = 400

#: Renders the form page: (request, lang, email, errors, notice, status) -> Response.
FormPage = Callable[..., Response]


async def submit_address_form(
    request: Request,
    context,
    pages: PublicPages,
    csrf: Csrf,
    form: FormData | None,
    *,
    use_case: Callable[..., bool],
    form_page: FormPage,
    done_url: str,
) -> Response:
    """Run ``use_case(context, email, ip=...)`` for the posted address and answer the visitor."""
    if form is None:
        return pages.too_large(request, choose_language(request))
    lang = choose_language(request, field(form, "lang"))
    email = field(form, "email")[:SHOWN_LENGTH]
    if not csrf.valid(request, form):
        return form_page(request, lang, email=email, notice="csrf_expired", status=400)
    try:
        # Queued or not (unknown address, one mail per address per interval): one answer.
        await context.database.run(use_case, context, field(form, "email"), ip=client_ip(request))
    except SignupThrottled as exc:
        response = pages.message(request, lang, "title_too_many", "too_many_body", status=429)
        response.headers["Retry-After"] = str(int(exc.retry_after))
        return response
    except InvalidSubscriberInput as exc:
        errors = pages.problem_texts(lang, exc.problems)
        return form_page(request, lang, email=email, errors=errors, status=400)
    return RedirectResponse(f"{done_url}?done=sent&lang={lang}", status_code=303)
