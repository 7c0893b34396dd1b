"""The render process: renders the jobs it is sent, under a memory cap and a time limit per job.

:mod:`mailer.render.pool` starts it (from a fork server, never by forking the
possibly multi-threaded caller) and talks to it over a pipe. What crosses is plain
data only: a :class:`RenderJob` (the renderer's set-up — a template directory and
in-memory sources —, the method, the template name and a plain-data context) one
way, a :class:`Reply` the other. The process caps its own address space
(``RLIMIT_AS``) once, and arms a timer per job whose signal interrupts the render
between two Python steps, so a runaway loop is reported with its template line; a
single long C-level step is stopped by the pool killing the process instead.

Importing this module loads no Jinja2: the caller names :func:`serve` as the
process's target without loading what only the process needs.
"""

from __future__ import annotations

import signal
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mailer.errors import TemplateError
from mailer.render.plain import is_plain

#: Renderer set-ups a process keeps compiled templates for (one per directory and override set).
KEPT_RENDERERS = 8

#: The methods of SandboxRenderer a job may call.
METHODS = frozenset({"render", "render_setting", "render_html", "render_text", "render_line"})

#: After the time limit, the timer rings again this often, in case template code swallowed it.
_REPEAT_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class RendererSetup:
    """What a SandboxRenderer is built from; hashable, so the process keeps one per set-up."""

    directory: Path | None
    overrides: tuple[tuple[str, str], ...] = ()
    max_bytes: int = 2_000_000
    trim_blocks: bool = True


@dataclass(frozen=True, slots=True)
class RenderJob:
    setup: RendererSetup
    method: str
    name: str
    context: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Reply:
    """``ok``: ``value`` is the result. Otherwise what failed: the template's own error,
    the time limit, or the memory limit (then the process is not reused)."""

    outcome: Literal["ok", "template", "timeout", "memory"]
    value: Any = None
    template: str | None = None
    line: int | None = None


#: Sent as soon as a job arrives: a process that never acknowledges had died before it.
ACK = "ack"


class _TimeUp(BaseException):
    """The job's time is up. A BaseException, so no ``except Exception`` in template code stops it."""


_armed = False


def _ring(signum, frame) -> None:
    if _armed:
        raise _TimeUp


def _arm(seconds: float) -> None:
    global _armed
    _armed = True
    signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_SECONDS)


def _disarm() -> None:
    global _armed
    _armed = False
    signal.setitimer(signal.ITIMER_REAL, 0)


def cap_memory(limit_bytes: int, /) -> None:
    """Cap this process's address space, so an allocation past it raises MemoryError."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))


def serve(connection, memory_bytes: int, /) -> None:
    """The process's whole life: answer jobs until the pipe closes (or a limit ends it)."""
    # The caller decides when this process ends: Ctrl-C on `mailer serve` reaches the
    # whole process group, and must not print a traceback from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _ring)
    from mailer.render.sandbox import SandboxRenderer, template_position

    renderers: OrderedDict[RendererSetup, SandboxRenderer] = OrderedDict()

    def renderer_for(setup: RendererSetup) -> SandboxRenderer:
        renderer = renderers.pop(setup, None)
        if renderer is None:
            renderer = SandboxRenderer(
                setup.directory,
                overrides=dict(setup.overrides),
                max_bytes=setup.max_bytes,
                trim_blocks=setup.trim_blocks,
            )
        renderers[setup] = renderer
        while len(renderers) > KEPT_RENDERERS:
            renderers.popitem(last=False)
        return renderer

    cap_memory(memory_bytes)
    while True:
        try:
            job: RenderJob = connection.recv()
        except EOFError:
            return
        connection.send(ACK)
        reply = _answer(job, renderer_for, template_position)
        connection.send(reply)
        if reply.outcome in ("timeout", "memory"):
            return  # interrupted at an arbitrary point: the pool starts a fresh process


def _answer(job: RenderJob, renderer_for, template_position) -> Reply:
    try:
        _arm(job.timeout)
        try:
            if job.method not in METHODS:
                raise ValueError(f"unknown render method {job.method!r}")
            value = getattr(renderer_for(job.setup), job.method)(
                job.name, job.context, **job.options
            )
        finally:
            _disarm()
    except _TimeUp as exc:
        _disarm()
        where, line = template_position(exc)
        return Reply("timeout", template=where or job.name, line=line)
    except MemoryError as exc:
        _disarm()
        where, line = template_position(exc)
        return Reply("memory", template=where or job.name, line=line)
    except TemplateError as exc:
        return Reply("template", value=exc.reason, template=exc.template, line=exc.line)
    except Exception as exc:  # noqa: BLE001 — reported to the caller, never fatal to the process
        return Reply("template", value=f"{exc.__class__.__name__}: {exc}", template=job.name)
    if job.method == "render_setting":
        # The value a template gave a variable may be a macro or Markup: only plain
        # data crosses back, anything else as its text.
        output, setting = value
        value = (output, setting if is_plain(setting) else str(setting))
    return Reply("ok", value=value)
