"""Words of the public pages in Korean (default) and English, and choosing between them.

The language comes from ``?lang=`` (or a form's ``lang`` field), else the browser's
Accept-Language, else Korean.
"""

from __future__ import annotations

import string

from fastapi import Request

from mailer.config import Settings
from mailer.models import retention_days_text
from mailer.particles import PAIRS, with_particle

LANGUAGES = ("ko", "en")

KO = {
    "skip": "본문으로 건너뛰기",
    "switch_label": "English",
    "switch_lang": "en",
    "contact": "문의: {sender} · 전화 {phone} · {email}",
    "home_intro": "{sender:이} 매주 보내 드리는 바이오산업 뉴스 요약과 「시흥시 K-바이오산업 육성전략 세미나」 소식입니다.",
    "home_subscribe": "구독 신청",
    "admin_link": "관리자",
    "title_archive": "지난 호 보기",
    "archive_empty": "아직 발송된 호가 없습니다.",
    "archive_home": "처음으로",
    "title_archive_missing": "찾을 수 없습니다",
    "title_subscribe": "뉴스레터 구독 신청",
    "intro": "{list_name}: 매주 바이오산업 뉴스 요약과 「시흥시 K-바이오산업 육성전략 세미나」 소식을 이메일로 보내 드립니다.",
    "email_label": "이메일 주소 (필수)",
    "email_hint": "예: name@example.kr",
    "name_label": "이름 (선택)",
    "organisation_label": "소속 (선택)",
    "consent_heading": "개인정보 수집·이용 동의 (필수)",
    "consent_label": "위 내용을 읽었으며, 개인정보 수집·이용과 뉴스레터 수신에 동의합니다.",
    "honeypot_label": "이 칸은 비워 두세요",
    "submit_subscribe": "구독 신청",
    "errors_summary": "입력 내용을 확인해 주세요. 문제가 있는 칸 아래에 이유를 적어 두었습니다.",
    "csrf_expired": "보안 확인 시간이 지났습니다. 내용을 확인하고 다시 눌러 주세요.",
    "consent_changed": "동의 문구가 바뀌었습니다. 새 문구를 읽고 다시 동의해 주세요.",
    "consent_missing": "동의 문구를 확인할 수 없습니다. 아래 문구를 읽고 동의한 뒤 다시 신청해 주세요.",
    "problem_required": "이메일 주소를 입력해 주세요.",
    "problem_invalid_email": "올바른 이메일 주소가 아닙니다. 예: name@example.kr",
    "problem_too_long": "너무 깁니다. {limit}자 이내로 입력해 주세요.",
    "problem_line_break": "줄바꿈이나 제어 문자는 쓸 수 없습니다.",
    "problem_invisible": "보이지 않는 문자나 글자 방향을 바꾸는 문자는 쓸 수 없습니다.",
    "problem_consent_required": "구독하려면 동의가 필요합니다. 동의하지 않을 수 있으며, 그 경우 뉴스레터를 받으실 수 없습니다.",
    "title_sent": "메일함을 확인해 주세요",
    "sent_body": "입력하신 주소로 확인 메일을 보냈습니다. 메일의 링크를 열고 ‘구독 확인’ 버튼을 누르시면 구독이 완료됩니다. 링크는 {ttl}시간 동안 유효합니다.",
    "sent_help": "메일이 오지 않으면 스팸함을 확인해 주세요. 확인 메일은 같은 주소로 10분에 한 번만 보냅니다.",
    "title_confirm": "구독 확인",
    "confirm_body": "아래 버튼을 누르시면 {list_name} 구독이 완료됩니다.",
    "confirm_button": "구독 확인",
    "title_invalid_link": "링크를 사용할 수 없습니다",
    "invalid_link_body": "확인 링크가 만료되었거나 더 새로운 링크로 바뀌었습니다. 다시 신청해 주세요.",
    "subscribe_again": "구독 신청하기",
    "title_welcome": "구독을 환영합니다",
    "title_welcome_named": "{name}님, 구독을 환영합니다",
    "welcome_body": "구독이 완료되었습니다. 매주 뉴스레터를 보내 드립니다. 동의 처리 결과는 메일로도 알려 드립니다.",
    "welcome_already": "이미 구독이 확인된 주소입니다.",
    "preferences_link": "구독 설정 (이름 변경·일시 중지·수신거부)",
    "title_unsubscribe": "수신거부",
    "unsubscribe_body": "아래 버튼을 누르시면 이 링크의 주소로 {list_name:를} 더 이상 보내지 않습니다.",
    "unsubscribe_button": "수신거부",
    "title_unsubscribed": "수신거부되었습니다",
    "unsubscribed_body": "이 링크의 주소로는 더 이상 뉴스레터를 보내지 않습니다. 구독 정보는 {retention}일 안에 파기하며, 다시 보내지 않도록 주소의 해시값만 남깁니다.",
    "title_preferences": "구독 설정",
    "status_label": "구독 상태",
    "status_active": "구독 중",
    "status_paused": "일시 중지",
    "status_pending": "이메일 확인 대기",
    "status_unsubscribed": "수신거부됨",
    "status_bounced": "전달 실패",
    "pending_body": "아직 이메일 확인이 끝나지 않았습니다. 받은 확인 메일의 링크를 눌러 주세요.",
    "unsubscribed_status_body": "수신거부된 주소입니다. 다시 받으시려면 새로 구독 신청해 주세요.",
    "profile_heading": "이름과 소속",
    "save_button": "저장",
    "saved": "저장했습니다.",
    "pause_heading": "일시 중지",
    "pause_body": "잠시 받지 않으시려면 일시 중지하세요. 수신 동의는 그대로 유지됩니다.",
    "pause_button": "일시 중지",
    "resume_button": "다시 받기",
    "paused_done": "일시 중지했습니다.",
    "resumed_done": "다시 보내 드립니다.",
    "unsubscribed_done": "수신거부되었습니다. 이 주소로는 더 이상 뉴스레터를 보내지 않으며, 처리 결과는 메일로 알려 드립니다.",
    "unsubscribe_heading": "수신거부",
    "unsubscribe_pref_body": "더 이상 받지 않으시려면 누르세요. 처리 결과는 메일로 알려 드립니다.",
    "data_heading": "내 정보 내려받기",
    "data_body": "보관 중인 정보와 동의 기록을 JSON 파일로 내려받습니다.",
    "data_link": "내려받기 (JSON)",
    "data_request_pref_heading": "내 정보 열람·삭제",
    "data_request_pref_body": "내 정보 내려받기와 삭제는 구독 주소로 보내 드리는 전용 링크로만 할 수 있습니다. 뉴스레터가 전달되더라도 다른 사람이 내 정보를 보거나 지울 수 없도록 하기 위해서입니다.",
    "data_request_link": "열람·삭제 링크 받기",
    "title_data_request": "내 정보 열람·삭제 요청",
    "data_request_body": "구독하신 이메일 주소를 입력하시면, 그 주소로 내 정보를 내려받거나 삭제할 수 있는 링크를 보내 드립니다. 링크는 {hours}시간 동안만 유효합니다.",
    "data_request_button": "링크 받기",
    "title_data_sent": "메일함을 확인해 주세요",
    "data_sent_body": "구독 중인 주소라면 내 정보 열람·삭제 링크를 메일로 보냈습니다. 링크는 {hours}시간 동안 유효합니다.",
    "data_sent_help": "메일이 오지 않으면 스팸함을 확인해 주세요. 같은 주소로는 10분에 한 번만 보냅니다.",
    "title_my_data": "내 정보",
    "my_data_intro": "이 페이지는 메일로 받으신 링크로만 열리며, {expires}까지 유효합니다.",
    "title_data_link_invalid": "링크를 사용할 수 없습니다",
    "data_link_invalid_body": "이 링크는 만료되었거나 올바르지 않습니다. 새 링크를 받아 주세요.",
    "data_request_again": "새 링크 받기",
    "erase_heading": "내 정보 삭제",
    "erase_body": "구독 정보를 모두 삭제하고 수신을 멈춥니다. 다시 보내지 않도록 주소의 해시값만 남깁니다. 되돌릴 수 없습니다.",
    "erase_confirm_label": "내 정보 삭제에 동의합니다",
    "erase_button": "삭제",
    "problem_confirmation_required": "삭제하려면 확인란을 선택해 주세요.",
    "title_erased": "삭제되었습니다",
    "erased_body": "구독 정보를 삭제했습니다. 처리 결과를 메일로 알려 드립니다.",
    "title_not_found": "링크를 찾을 수 없습니다",
    "not_found_body": "이 링크는 유효하지 않거나, 구독 정보가 이미 삭제되었습니다.",
    "title_too_many": "잠시 후 다시 시도해 주세요",
    "too_many_body": "짧은 시간에 신청이 너무 많았습니다. 한 시간쯤 뒤에 다시 신청해 주세요.",
    "title_too_large": "보낸 내용이 너무 깁니다",
    "too_large_body": "입력 내용을 줄여서 다시 보내 주세요.",
    "title_busy": "잠시 후 다시 시도해 주세요",
    "busy_body": "지금은 요청을 처리하지 못했고, 아무것도 바뀌지 않았습니다. 잠시 뒤 같은 링크로 다시 시도해 주세요.",
    # A link that could not be verified, and the unsubscribe link mailed by address (issue 15).
    "title_unsubscribe_unverified": "링크를 확인할 수 없습니다",
    "unsubscribe_unverified_body": "이 수신거부 링크를 확인할 수 없어 아직 아무것도 바뀌지 않았습니다. 메일 프로그램이 링크를 잘랐거나 손상시켰을 수 있습니다.",
    "unsubscribe_by_address_body": "받으시는 이메일 주소를 입력하시면 그 주소로 수신거부 링크를 보내 드립니다. 링크를 열고 버튼을 누르시면 바로 처리됩니다.",
    "title_unsubscribe_by_address": "이메일 주소로 수신거부",
    "unsubscribe_by_address_button": "수신거부 링크 받기",
    "title_unsubscribe_sent": "메일함을 확인해 주세요",
    "unsubscribe_sent_body": "뉴스레터를 받는 주소라면 수신거부 링크를 메일로 보냈습니다. 링크를 열고 [수신거부] 버튼을 누르시면 처리가 끝납니다.",
    "unsubscribe_sent_help": "메일이 오지 않으면 스팸함을 확인해 주세요. 같은 주소로는 10분에 한 번만 보냅니다.",
}

EN = {
    "skip": "Skip to content",
    "switch_label": "한국어",
    "switch_lang": "ko",
    "contact": "Contact: {sender_en} · Tel {phone} · {email}",
    "home_intro": "A weekly digest of bio-industry news and announcements of the Siheung K-Bio Industry Strategy Seminar, from {sender_en}.",
    "home_subscribe": "Subscribe",
    "admin_link": "Admin",
    "title_archive": "Past editions",
    "archive_empty": "No edition has been sent yet.",
    "archive_home": "Home",
    "title_archive_missing": "Not found",
    "title_subscribe": "Subscribe to the newsletter",
    "intro": "{list_name}: a weekly email digest of bio-industry news and the Siheung K-Bio Industry Strategy Seminar.",
    "email_label": "Email address (required)",
    "email_hint": "For example name@example.kr",
    "name_label": "Name (optional)",
    "organisation_label": "Organisation (optional)",
    "consent_heading": "Consent to the use of personal data (required)",
    "consent_label": "I have read the above and agree to the collection and use of my data and to receiving the newsletter.",
    "honeypot_label": "Leave this field empty",
    "submit_subscribe": "Subscribe",
    "errors_summary": "Please check your entries. The reason is given under each field.",
    "csrf_expired": "This form expired. Please check it and submit again.",
    "consent_changed": "The consent text has changed. Please read it and agree again.",
    "consent_missing": "We could not tell which consent text you agreed to. Please read the text below, agree and submit again.",
    "problem_required": "Please enter your email address.",
    "problem_invalid_email": "This is not a valid email address. For example name@example.kr",
    "problem_too_long": "Too long: at most {limit} characters.",
    "problem_line_break": "Line breaks and control characters are not allowed.",
    "problem_invisible": "Invisible characters and characters that change the text direction are not allowed.",
    "problem_consent_required": "Consent is needed to subscribe. You may refuse, but then you cannot receive the newsletter.",
    "title_sent": "Check your inbox",
    "sent_body": "We sent a confirmation mail to the address you entered. Open its link and press “Confirm” to complete your subscription. The link works for {ttl} hours.",
    "sent_help": "If nothing arrives, look in your spam folder. We send at most one confirmation mail per address every 10 minutes.",
    "title_confirm": "Confirm your subscription",
    "confirm_body": "Press the button to complete your subscription to {list_name}.",
    "confirm_button": "Confirm",
    "title_invalid_link": "This link cannot be used",
    "invalid_link_body": "The confirmation link has expired or was replaced by a newer one. Please sign up again.",
    "subscribe_again": "Subscribe",
    "title_welcome": "Welcome",
    "title_welcome_named": "Welcome, {name}",
    "welcome_body": "Your subscription is complete. You will receive the newsletter every week. We also send you a mail confirming your consent.",
    "welcome_already": "This address was already confirmed.",
    "preferences_link": "Preferences (name, pause, unsubscribe)",
    "title_unsubscribe": "Unsubscribe",
    "unsubscribe_body": "Press the button and {list_name} will no longer be sent to the address of this link.",
    "unsubscribe_button": "Unsubscribe",
    "title_unsubscribed": "You are unsubscribed",
    "unsubscribed_body": "No further newsletters will be sent to the address of this link. Your data is destroyed within {retention} days; only a hash of the address is kept so that it is never mailed again.",
    "title_preferences": "Preferences",
    "status_label": "Status",
    "status_active": "Subscribed",
    "status_paused": "Paused",
    "status_pending": "Waiting for email confirmation",
    "status_unsubscribed": "Unsubscribed",
    "status_bounced": "Undeliverable",
    "pending_body": "Your address is not confirmed yet. Please use the link in the confirmation mail.",
    "unsubscribed_status_body": "This address is unsubscribed. To receive the newsletter again, please subscribe anew.",
    "profile_heading": "Name and organisation",
    "save_button": "Save",
    "saved": "Saved.",
    "pause_heading": "Pause",
    "pause_body": "Pause to stop receiving it for a while. Your consent stays in place.",
    "pause_button": "Pause",
    "resume_button": "Resume",
    "paused_done": "Paused.",
    "resumed_done": "Resumed.",
    "unsubscribed_done": "You are unsubscribed. No further newsletters go to this address; a mail confirms it.",
    "unsubscribe_heading": "Unsubscribe",
    "unsubscribe_pref_body": "Stop receiving the newsletter. We confirm it by mail.",
    "data_heading": "Download my data",
    "data_body": "Everything we hold about you, with the consent record, as a JSON file.",
    "data_link": "Download (JSON)",
    "data_request_pref_heading": "See or erase my data",
    "data_request_pref_body": "Downloading or erasing your data works only through a link we mail to your subscribed address, so that nobody a newsletter was forwarded to can see or erase it.",
    "data_request_link": "Mail me a link",
    "title_data_request": "See or erase my data",
    "data_request_body": "Enter your subscribed address and we mail it a link to download or erase your data. The link works for {hours} hours.",
    "data_request_button": "Send the link",
    "title_data_sent": "Check your inbox",
    "data_sent_body": "If this address is subscribed, a link to see or erase its data is on its way. It works for {hours} hours.",
    "data_sent_help": "No mail? Check your spam folder. We send at most one link per address every 10 minutes.",
    "title_my_data": "My data",
    "my_data_intro": "This page opens only with the link we mailed you, until {expires}.",
    "title_data_link_invalid": "This link cannot be used",
    "data_link_invalid_body": "The link has expired or is not valid. Ask for a new one.",
    "data_request_again": "Ask for a new link",
    "erase_heading": "Erase my data",
    "erase_body": "Deletes all your subscription data and stops all mail. Only a one-way hash of the address is kept so that it is never mailed again. This cannot be undone.",
    "erase_confirm_label": "I want my data erased",
    "erase_button": "Erase",
    "problem_confirmation_required": "Tick the box to confirm the erasure.",
    "title_erased": "Your data has been erased",
    "erased_body": "We deleted your subscription data. A mail confirms it.",
    "title_not_found": "Link not found",
    "not_found_body": "This link is not valid, or the subscription data has already been erased.",
    "title_too_many": "Please try again later",
    "too_many_body": "Too many signups in a short time. Please try again in about an hour.",
    "title_too_large": "Too much data",
    "too_large_body": "Please shorten your entries and send them again.",
    "title_busy": "Please try again shortly",
    "busy_body": "Your request could not be completed just now, and nothing was changed. Please try the same link again in a moment.",
    # A link that could not be verified, and the unsubscribe link mailed by address (issue 15).
    "title_unsubscribe_unverified": "We could not verify this link",
    "unsubscribe_unverified_body": "This unsubscribe link could not be verified, so nothing has changed yet. Your mail program may have cut or damaged the link.",
    "unsubscribe_by_address_body": "Enter the address that receives the newsletter and we mail it an unsubscribe link. Open it and press the button to unsubscribe at once.",
    "title_unsubscribe_by_address": "Unsubscribe by address",
    "unsubscribe_by_address_button": "Mail me the link",
    "title_unsubscribe_sent": "Check your inbox",
    "unsubscribe_sent_body": "If this address receives the newsletter, an unsubscribe link is on its way. Open it and press the button to finish.",
    "unsubscribe_sent_help": "No mail? Check your spam folder. We send at most one link per address every 10 minutes.",
}


def catalogues(settings: Settings) -> dict[str, dict[str, str]]:
    """Both catalogues with the service's names filled in once, at start-up."""
    compliance = settings.compliance
    values = {
        "list_name": compliance.list_name,
        "sender": compliance.sender_name,
        "sender_en": compliance.sender_name_en,
        "phone": compliance.phone,
        "email": compliance.email,
        "ttl": f"{settings.subscriptions.confirm_ttl_hours:g}",
        "hours": f"{settings.subscriptions.data_link_hours:g}",
        "retention": retention_days_text(settings.subscriptions),
        "expires": "{expires}",
        "name": "{name}",
        "limit": "{limit}",
    }
    return {
        "ko": {key: _WORDS.format(text, **values) for key, text in KO.items()},
        "en": {key: _WORDS.format(text, **values) for key, text in EN.items()},
    }


class _CatalogueFormatter(string.Formatter):
    """``str.format`` plus particles: ``{sender:이}`` is the sender followed by 이 or 가,
    whichever its last sound takes (``mailer.particles``), since the names are settings."""

    def format_field(self, value, format_spec: str) -> str:
        if format_spec in PAIRS:
            return with_particle(value, format_spec)
        return super().format_field(value, format_spec)


_WORDS = _CatalogueFormatter()


def choose_language(request: Request, form_value: str | None = None) -> str:
    """?lang= or the form's lang field, else the best of Accept-Language, else Korean."""
    for explicit in (form_value, request.query_params.get("lang")):
        if explicit in LANGUAGES:
            return explicit
    best, best_q = "ko", -1.0
    for part in request.headers.get("accept-language", "")[:500].split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best
