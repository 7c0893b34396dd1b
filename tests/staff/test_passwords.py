"""The staff password policy and its argon2id hashes (issue 12 item 1)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from mailer.staff import MIN_LENGTH, PasswordRefused, check_password
from mailer.staff.passwords import Passwords, common_passwords

EMAIL = "kim.minji@example.kr"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a" * (MIN_LENGTH - 1), "too_short"),
        ("비밀번호는짧다", "too_short"),  # counted in characters, not bytes
        ("x" * 257, "too_long"),
        ("1234567890", "common"),
        ("QwertyUIOP", "common"),  # case does not help
        ("manchester1!", "common"),  # nor digits and signs on the end of a common one
        ("password123", "common"),
        (EMAIL, "email"),
        ("Kim.Minji@Example.KR", "email"),
    ],
)
def test_the_policy_refuses(password, reason):
    with pytest.raises(PasswordRefused) as refused:
        check_password(password, email=EMAIL)
    assert refused.value.reason == reason
    assert refused.value.field == "password"
    # Korean first, English after, on one line.
    assert " / " in str(refused.value) and "\n" not in str(refused.value)


def test_the_local_part_of_the_address_is_refused_too():
    with pytest.raises(PasswordRefused) as refused:
        check_password("kimminji2026", email="kimminji2026@example.kr")
    assert refused.value.reason == "email"


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "시흥바이오세미나에갑니다", "q9!Lm-2vX#pa"]
)
def test_the_policy_accepts_a_long_uncommon_password(password):
    check_password(password, email=EMAIL)


def test_the_shipped_list_holds_the_most_common_passwords():
    common = common_passwords()
    assert len(common) > 2000
    assert {"123456", "password", "qwerty", "1q2w3e4r5t", "iloveyou"} <= common
    assert not any(entry.startswith("#") for entry in common)


def test_hashes_are_argon2id_and_verify_only_the_right_password():
    passwords = Passwords()
    stored = passwords.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert passwords.hash("correct horse battery staple") != stored  # salted
    assert passwords.verify(stored, "correct horse battery staple").rehash is None
    assert passwords.verify(stored, "correct horse battery stapler") is None
    assert passwords.verify(None, "anything at all here") is None
    assert passwords.verify("not a hash", "anything at all here") is None


def test_a_hash_with_weaker_parameters_is_rehashed_on_a_match():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(
        "correct horse battery"
    )
    verified = Passwords().verify(weak, "correct horse battery")
    assert verified is not None and verified.rehash is not None
    assert verified.rehash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert Passwords().verify(verified.rehash, "correct horse battery").rehash is None
