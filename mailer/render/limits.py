"""The bounds every template render runs under, and the errors that name them.

Staff edit the digest and notice templates, so a template is untrusted code: the
sandbox stops it reaching Python internals, and these limits stop it taking the
machine (issue 11, item 2; design §4 "Security rules"). A render that passes one
fails with a :class:`~mailer.errors.TemplateError` that names the limit and the
setting that sets it, in Korean first like the rest of the staff-facing text.

No Jinja2 here: the web and CLI processes only send work to a render process
(:mod:`mailer.render.pool`), and importing this stays cheap.
"""

from __future__ import annotations

from mailer.errors import TemplateError

#: Default cap on one rendered part (UTF-8 bytes); Settings.digest.max_part_bytes overrides it.
MAX_PART_BYTES = 2_000_000

#: Defaults of the ``[render]`` settings (config/mailer.toml).
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MEMORY_MB = 256
DEFAULT_PROCESSES = 2

#: How long after the time limit a render process that has not answered is killed.
#: The process interrupts its own render at the limit; only code that cannot be
#: interrupted (one long C-level operation) ever needs the kill.
KILL_GRACE_SECONDS = 2.0


def timeout_error(seconds: float, /, *, template: str, line: int | None = None) -> TemplateError:
    return TemplateError(
        f"템플릿 렌더링이 {seconds:g}초 제한을 넘었습니다 (render.timeout_seconds)",
        template=template,
        line=line,
    )


def memory_error(megabytes: int, /, *, template: str, line: int | None = None) -> TemplateError:
    return TemplateError(
        f"템플릿 렌더링이 메모리 제한 {megabytes} MB를 넘었습니다 (render.memory_mb)",
        template=template,
        line=line,
    )


def lost_error(megabytes: int, how: str, /, *, template: str) -> TemplateError:
    """The render process ended in the middle of a render (killed, or crashed)."""
    return TemplateError(
        f"렌더링 프로세스가 렌더링 도중 종료되었습니다 ({how}); 메모리 제한 {megabytes} MB "
        "(render.memory_mb)를 넘었거나 밖에서 종료되었을 수 있습니다",
        template=template,
    )
