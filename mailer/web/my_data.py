"""My data: ask for a data-access link by address (/my-data), then download or erase with it (/my-data/{token}).

The permanent token in every newsletter opens preferences and unsubscribe only; the
data download (IP and user-agent history) and the erasure need this short-lived link,
which goes only to the subscribed address (issue 11, item 8). The request page gives
the same answer whether or not the address is on the list.
"""

from __future__ import annotations

import json
from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from mailer import subscribers
from mailer.errors import InvalidSubscriberInput
from mailer.web.address_form import SHOWN_LENGTH, submit_address_form
from mailer.web.deps import Bell, Context, CsrfGuard
from mailer.web.forms import field
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE, Pages, PublicPages, SubmittedForm

router = APIRouter()


def _request_page(
    pages: PublicPages,
    request: Request,
    lang: str,
    *,
    email: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    values = {"email": email[:SHOWN_LENGTH], "errors": errors or {}, "notice": notice}
    return pages.render(request, "data_request.html", lang, values, status=status, with_form=True)


@router.get("/my-data", response_class=HTMLResponse)
async def data_request_form(request: Request, pages: Pages) -> Response:
    lang = choose_language(request)
    if request.query_params.get("done") == "sent":  # where a request lands (POST-redirect-GET)
        return pages.render(request, "data_sent.html", lang)
    return _request_page(pages, request, lang)


@router.post("/my-data", response_class=HTMLResponse)
async def data_request(
    request: Request,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    form: SubmittedForm,
) -> Response:
    return await submit_address_form(
        request,
        context,
        pages,
        csrf,
        form,
        use_case=subscribers.request_data_link,
        form_page=partial(_request_page, pages),
        done_url="/my-data",
    )


def _invalid_link(pages: PublicPages, request: Request, lang: str) -> Response:
    return pages.render(request, "data_link_invalid.html", lang, status=404)


def _data_page(
    pages: PublicPages,
    request: Request,
    lang: str,
    row: dict,
    token: str,
    *,
    zone,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    expires = row["link_expires_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
    values = {
        "row": row,
        "token": token,
        "expires": expires,
        "errors": errors or {},
        "notice": notice,
    }
    return pages.render(request, "my_data.html", lang, values, status=status, with_form=True)


@router.get("/my-data/{token}", response_class=HTMLResponse)
async def data_page(request: Request, token: str, context: Context, pages: Pages) -> Response:
    lang = choose_language(request)
    row = await context.database.run(subscribers.data_access_holder, context, token)
    if row is None:
        return _invalid_link(pages, request, lang)
    return _data_page(pages, request, lang, row, token, zone=context.settings.zone)


@router.get("/my-data/{token}/data.json")
async def data_download(request: Request, token: str, context: Context, pages: Pages) -> Response:
    data = await context.database.run(subscribers.personal_data, context, token)
    if data is None:
        return _invalid_link(pages, request, choose_language(request))
    body = json.dumps(data, ensure_ascii=False, indent=2)
    response = Response(body, media_type="application/json; charset=utf-8")
    response.headers.update(NO_STORE)
    response.headers["Content-Disposition"] = 'attachment; filename="my-subscription-data.json"'
    return response


@router.post("/my-data/{token}/erase", response_class=HTMLResponse)
async def data_erase(
    request: Request,
    token: str,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    if form is None:
        return pages.too_large(request, choose_language(request))
    lang = choose_language(request, field(form, "lang"))
    row = await context.database.run(subscribers.data_access_holder, context, token)
    if row is None:
        return _invalid_link(pages, request, lang)
    zone = context.settings.zone
    if not csrf.valid(request, form):
        return _data_page(
            pages, request, lang, row, token, zone=zone, notice="csrf_expired", status=400
        )
    try:
        erased = await context.database.run(
            subscribers.erase,
            context,
            token=token,
            source="data-link",
            confirmed=field(form, "confirm") == "yes",
        )
    except InvalidSubscriberInput as exc:
        errors = pages.problem_texts(lang, exc.problems)
        return _data_page(pages, request, lang, row, token, zone=zone, errors=errors, status=400)
    if not erased:  # the link expired between the two look-ups
        return _invalid_link(pages, request, lang)
    bell.ring()
    return pages.message(request, lang, "title_erased", "erased_body", status=200)
