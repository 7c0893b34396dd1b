"""The staff password policy and argon2id hashing: what a password must be, and how it is stored.

Policy (NIST SP 800-63B §3.1.1.2, issue 12 item 1): at least :data:`MIN_LENGTH`
characters, not one of the most common passwords (``common_passwords.txt``, also after
stripping the digits and signs people append, "Manchester1!"), and not the user's own
address or its local part. No composition rules: length beats forced symbols.

Hashes are argon2id PHC strings from argon2-cffi's ``PasswordHasher`` (RFC 9106's
low-memory profile, its default); a hash made with weaker parameters is replaced at the
next successful log-in (:func:`verify`).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mailer.errors import InvalidInputError

MIN_LENGTH = 10
#: argon2 hashes any length, but a megabyte-long "password" is a denial of service.
MAX_LENGTH = 256
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
#: What people append to a common word to pass a composition rule.
_APPENDED = "0123456789!@#$%^&*()-_=+.,?~ "


class PasswordRefused(InvalidInputError):
    """The password breaks the policy; ``reason`` is ``too_short``, ``too_long``, ``common`` or ``email``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, field="password")
        self.reason = reason


@functools.cache
def common_passwords() -> frozenset[str]:
    """The refused passwords, case-folded (read once per process)."""
    lines = COMMON_PASSWORDS.read_text("utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def check_password(password: str, /, *, email: str) -> None:
    """Raise :class:`PasswordRefused` (messages Korean first) unless ``password`` meets the policy."""
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        raise PasswordRefused(
            "too_short",
            f"비밀번호는 {MIN_LENGTH}자 이상이어야 합니다 / "
            f"the password must be at least {MIN_LENGTH} characters",
        )
    if length > MAX_LENGTH:
        raise PasswordRefused(
            "too_long",
            f"비밀번호는 {MAX_LENGTH}자 이하여야 합니다 / "
            f"the password must be at most {MAX_LENGTH} characters",
        )
    folded = _folded(password)
    address = _folded(email.strip())
    if folded in (address, address.partition("@")[0]):
        raise PasswordRefused(
            "email",
            "비밀번호로 이메일 주소를 쓸 수 없습니다 / the password cannot be the email address",
        )
    stem = folded.rstrip(_APPENDED)
    common = common_passwords()
    if folded in common or (len(stem) >= 6 and stem in common):
        raise PasswordRefused(
            "common",
            "너무 흔한 비밀번호입니다. 다른 비밀번호를 고르세요 / "
            "this password is among the most common ones: choose another",
        )


@dataclass(frozen=True)
class Verified:
    """A password matched; ``rehash`` is a new hash to store when the old one's parameters are outdated."""

    rehash: str | None


class Passwords:
    """Hash and verify staff passwords with one argon2id ``PasswordHasher``."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    def hash(self, password: str, /) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str, /) -> Verified | None:
        """``Verified`` when ``password`` matches ``stored``; None otherwise.

        With no stored hash (an account whose password is not set) a dummy hash is
        verified instead, so the answer takes as long whether or not the account
        has a password: timing does not tell which addresses are staff.
        """
        try:
            self.hasher.verify(stored or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if stored is None:
            return None
        return Verified(self.hash(password) if self.hasher.check_needs_rehash(stored) else None)

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash("not the password of any account")
