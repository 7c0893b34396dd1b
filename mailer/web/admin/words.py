"""Words of the staff admin in Korean (default) and English, added to the public pages' catalogue."""

from __future__ import annotations

from importlib import import_module

#: The admin's sections: (word key, path, the permission that shows it), in menu order.
#: The menu and the home page list them; the check that counts is in the use cases.
SECTIONS = (
    ("section_templates", "/admin/templates", "edit_templates"),
    ("section_schedules", "/admin/schedules", "edit_schedules"),
    ("section_seminar", "/admin/seminar", "edit_seminar"),
    ("section_audit", "/admin/audit", "view_audit"),
    ("section_users", "/admin/users", "manage_users"),
)

#: Each admin page keeps its own words in a module of this package with ``KO`` and
#: ``EN`` dicts (``words_<page>.py``); they join the catalogue below.
PAGE_WORD_MODULES: tuple[str, ...] = (
    "words_templates",
    "words_schedules",
    "words_seminar",
    "words_users",
    "words_audit",
)

KO = {
    "admin_title": "관리자",
    "admin_home": "관리자 홈",
    "login_title": "관리자 로그인",
    "login_intro": "뉴스레터 담당자만 로그인할 수 있습니다.",
    "email_field": "이메일 주소",
    "password_field": "비밀번호",
    "password_again": "비밀번호 확인",
    "password_hint": "{min}자 이상. 흔한 비밀번호와 이메일 주소는 쓸 수 없습니다.",
    "login_button": "로그인",
    "login_refused": "이메일 주소 또는 비밀번호가 맞지 않습니다.",
    "login_throttled": "로그인 실패가 너무 많습니다. {minutes}분쯤 뒤에 다시 시도하거나 관리자에게 문의해 주세요.",
    "logged_out": "로그아웃했습니다.",
    "session_ended": "로그인 시간이 지나 다시 로그인해 주세요.",
    "logout_button": "로그아웃",
    "set_password_title": "비밀번호 설정",
    "first_admin_title": "첫 관리자 계정 만들기",
    "first_admin_intro": "이 링크로 첫 관리자 계정을 만듭니다. 사용할 이메일 주소와 비밀번호를 입력하세요.",
    "set_password_intro": "{email} 계정의 비밀번호를 정합니다.",
    "set_password_button": "비밀번호 저장",
    "password_mismatch": "두 비밀번호가 같지 않습니다.",
    "password_saved": "비밀번호를 저장했습니다. 이제 로그인하세요.",
    "link_dead_title": "링크를 사용할 수 없습니다",
    "link_dead_body": "이 링크는 만료되었거나 이미 사용되었습니다. 관리자에게 새 링크를 요청하세요.",
    "dashboard_intro": "로그인 계정: {email} · 역할: {role}",
    "sections_heading": "관리 메뉴",
    "section_templates": "템플릿",
    "section_schedules": "일정",
    "section_seminar": "세미나",
    "section_audit": "감사 기록",
    "section_users": "사용자",
    "change_password_title": "비밀번호 변경",
    "current_password": "현재 비밀번호",
    "new_password": "새 비밀번호",
    "current_wrong": "현재 비밀번호가 맞지 않습니다.",
    "password_changed": "비밀번호를 바꿨습니다. 다른 기기의 로그인은 끝났습니다.",
    "role_admin": "관리자",
    "role_editor": "편집자",
    "forbidden_title": "권한이 없습니다",
    "forbidden_body": "이 계정의 역할로는 이 페이지를 쓸 수 없습니다.",
    "csrf_title": "보안 확인에 실패했습니다",
    "csrf_body": "양식이 오래되었거나 다른 사이트에서 보낸 요청입니다. 페이지를 새로 열고 다시 시도해 주세요.",
    "admin_not_found_title": "페이지를 찾을 수 없습니다",
    "admin_not_found_body": "주소를 확인해 주세요.",
    "back_home": "관리자 홈으로",
    "audit_intro": "최근 직원 작업 기록입니다. 기록은 고치거나 지울 수 없으며 2년 이상 보관합니다.",
    "audit_at": "시각",
    "audit_actor": "계정",
    "audit_address": "접속 주소",
    "audit_action": "작업",
    "audit_change": "변경 내용",
    "audit_empty": "기록이 없습니다.",
}

EN = {
    "admin_title": "Admin",
    "admin_home": "Admin home",
    "login_title": "Staff log-in",
    "login_intro": "Only the newsletter's staff can log in.",
    "email_field": "Email address",
    "password_field": "Password",
    "password_again": "Password again",
    "password_hint": "At least {min} characters. Common passwords and the email address are refused.",
    "login_button": "Log in",
    "login_refused": "The email address or password is wrong.",
    "login_throttled": "Too many failed log-ins. Try again in about {minutes} minutes or ask an admin.",
    "logged_out": "You are logged out.",
    "session_ended": "Your session has ended; please log in again.",
    "logout_button": "Log out",
    "set_password_title": "Set your password",
    "first_admin_title": "Create the first admin account",
    "first_admin_intro": "This link creates the first admin account. Enter the email address and password to use.",
    "set_password_intro": "Set the password of {email}.",
    "set_password_button": "Save password",
    "password_mismatch": "The two passwords differ.",
    "password_saved": "Your password is saved. Log in now.",
    "link_dead_title": "This link cannot be used",
    "link_dead_body": "The link has expired or was used already. Ask an admin for a new one.",
    "dashboard_intro": "Logged in as {email} ({role}).",
    "sections_heading": "Sections",
    "section_templates": "Templates",
    "section_schedules": "Schedules",
    "section_seminar": "Seminar",
    "section_audit": "Audit log",
    "section_users": "Users",
    "change_password_title": "Change password",
    "current_password": "Current password",
    "new_password": "New password",
    "current_wrong": "The current password is wrong.",
    "password_changed": "Password changed. Other devices are logged out.",
    "role_admin": "admin",
    "role_editor": "editor",
    "forbidden_title": "Not allowed",
    "forbidden_body": "This account's role cannot use this page.",
    "csrf_title": "Security check failed",
    "csrf_body": "The form is stale or was sent from another site. Open the page again and retry.",
    "admin_not_found_title": "Page not found",
    "admin_not_found_body": "Check the address.",
    "back_home": "Back to admin home",
    "audit_intro": "Recent staff actions. Entries cannot be changed or deleted and are kept at least two years.",
    "audit_at": "Time",
    "audit_actor": "Account",
    "audit_address": "Client address",
    "audit_action": "Action",
    "audit_change": "Change",
    "audit_empty": "No entries.",
}


def catalogue(lang: str, /) -> dict[str, str]:
    """The admin's words in ``lang`` ("ko" or "en"): this module's plus every page's."""
    merged = dict(KO if lang == "ko" else EN)
    for name in PAGE_WORD_MODULES:
        module = import_module(f"{__package__}.{name}")
        merged.update(module.KO if lang == "ko" else module.EN)
    return merged
