"""Library internals the code relies on still exist in the installed versions, or the test names what broke.

pyproject.toml pins each of these libraries to the range these checks passed on (an
upper bound as well as a lower one). When a check fails after an upgrade: read the
library's changelog, adapt the module the message names, then move the bound. A check
whose internal the code no longer uses skips and says so: drop it, and the upper bound.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def requires_use(needle: str, *paths: str) -> None:
    """Skip unless one of ``paths`` (globs under the repository) still contains ``needle``."""
    files = [path for pattern in paths for path in sorted(ROOT.glob(pattern))]
    if not any(needle in path.read_text("utf-8") for path in files):
        pytest.skip(f"{needle!r} is no longer used in {', '.join(paths)}: drop this check")


def changed(library: str, what: str, user: str) -> str:
    return (
        f"{library} {version(library)} changed {what}, which {user} relies on; "
        "adapt it, then update the range in pyproject.toml"
    )


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_aiosmtplib_protocol_writes_bytes_and_reads_one_reply():
    """mail/pool.py sends the prepared message body itself and reads the reply to the final dot."""
    requires_use("protocol.read_response", "mailer/mail/*.py")
    import aiosmtplib
    from aiosmtplib.protocol import SMTPProtocol

    what = changed(
        "aiosmtplib", "SMTP.protocol / SMTPProtocol.write / read_response", "mail/pool.py"
    )
    assert hasattr(aiosmtplib.SMTP(), "protocol"), what
    assert parameters(SMTPProtocol.write) == ["self", "data"], what
    assert "timeout" in parameters(SMTPProtocol.read_response), what
    assert inspect.iscoroutinefunction(SMTPProtocol.read_response), what


def test_typer_root_group_can_load_its_commands_when_invoked():
    """cli/groups.py's LazyGroup keeps stand-ins in ``commands`` and swaps them in resolve_command."""
    requires_use("TyperGroup", "mailer/cli/*.py")
    import typer
    from typer.core import TyperCommand, TyperGroup

    what = changed("typer", "TyperGroup.commands / resolve_command", "cli/groups.py (LazyGroup)")
    group = TyperGroup(name="root", commands={"x": TyperCommand("x")})
    assert isinstance(group.commands, dict) and list(group.commands) == ["x"], what
    assert parameters(TyperGroup.resolve_command) == ["self", "ctx", "args"], what
    assert callable(getattr(typer.main, "get_group", None)), what


def test_aiosmtpd_internals_of_the_test_relay():
    """tests/support/smtp_server.py scripts faults through aiosmtpd's protocol and Controller."""
    requires_use("_smtp_methods", "tests/support/smtp_server.py")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    what = changed("aiosmtpd", "SMTP / Controller internals", "tests/support/smtp_server.py")
    for name in ("_strip_command_keyword", "_getaddr", "connection_made", "connection_lost"):
        assert callable(getattr(SMTP, name, None)), f"{what}: SMTP.{name}"
    source = inspect.getsource(SMTP)
    for name in ("self._smtp_methods", "self._handler_coroutine"):
        assert name in source, f"{what}: {name}"
    for name in ("_create_server", "_run", "_trigger_server", "_factory_invoker", "factory"):
        assert callable(getattr(Controller, name, None)), f"{what}: Controller.{name}"
    assert hasattr(Controller, "_thread_exception"), f"{what}: Controller._thread_exception"
