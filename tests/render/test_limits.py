"""Templates are bounded in time and memory (issue 11, item 2): each break fails fast and names its limit.

Every render runs in a render process of a RenderPool. These tests use short limits
(2 s, 160 MB) and check what a caller sees: the error naming the limit and the
setting, the template and line where known, and that the next render works at once
in a process that replaced the broken one. No test measures time: a render that
hung would fail at the deadline of ``within``, which only bounds a failure.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from mailer.errors import TemplateError
from mailer.render import MailRenderer, RenderPool
from tests.helpers import wait_for

#: The reproductions of issue 11 (an attacker's run against `mailer serve`).
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
HUGE_POWER = "{{ 10**(10**8) }}"
HUGE_LIST = "{% set l = [0] * 10**8 %}"
HUGE_STRING = "{{ 'a' * 10**8 }}"

#: Allocations the sandbox's own guards do not see: only the process's memory cap stops them.
ONE_BIG_ALLOCATION = "ok\n{{ 'x'.ljust(300000000) }}"
GROWING_LIST = (
    "{% set ns = namespace(items=[0]) %}\n"
    "{% for i in range(40) %}\n"
    "{% set ns.items = ns.items + ns.items %}\n"
    "{% endfor %}\n"
)
#: Three lines, the loop on the third, so that the error can name it.
RUNAWAY_LOOP = "제목\n본문\n" + NESTED_LOOPS

TEMPLATES = {
    "ok.txt.j2": "안녕하세요 {{ name }}님\n",
    "loops.txt.j2": NESTED_LOOPS,
    "power.txt.j2": HUGE_POWER,
    "list.txt.j2": HUGE_LIST,
    "string.html.j2": HUGE_STRING,
    "allocation.txt.j2": ONE_BIG_ALLOCATION,
    "growing.txt.j2": GROWING_LIST,
    "runaway.txt.j2": RUNAWAY_LOOP,
}

DEADLINE = 60.0
#: The time limit of these tests' pool: short, but ample for a normal render on a busy machine.
TIME_LIMIT = 2


@pytest.fixture
def pool():
    with RenderPool(timeout_seconds=TIME_LIMIT, memory_mb=160, processes=2) as made:
        yield made


@pytest.fixture
def memory_pool():
    """A long time limit, so that only the memory cap can stop these renders."""
    with RenderPool(timeout_seconds=300, memory_mb=160, processes=1) as made:
        yield made


@pytest.fixture
def renderer(pool):
    return MailRenderer(None, overrides=TEMPLATES, pool=pool)


def within(function, /, *args, timeout: float = DEADLINE, **kwargs):
    """Call ``function`` in a thread; its result or exception, or a failure after ``timeout`` s.

    The thread is a daemon: on the old code these renders never end, and the test
    must fail rather than hang the run.
    """
    outcome: dict = {}

    def call():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 — handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"{function.__name__} did not return within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def assert_renders_again(renderer):
    assert within(renderer.render, "ok.txt.j2", {"name": "홍길동"}) == "안녕하세요 홍길동님\n"


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("loops.txt.j2", f"{TIME_LIMIT}초 제한을 넘었습니다 (render.timeout_seconds)"),
        ("power.txt.j2", "거듭제곱 결과가 너무 큽니다: 10 ** 100000000"),
        ("list.txt.j2", "반복 결과가 너무 큽니다: 100,000,000개"),
        ("string.html.j2", "반복 결과가 너무 큽니다: 100,000,000개"),
    ],
)
def test_the_reproductions_fail_fast_naming_the_limit_and_the_renderer_works_after(
    renderer, template, expected
):
    with pytest.raises(TemplateError) as caught:
        within(renderer.render, template, {})
    assert expected in str(caught.value)
    assert (caught.value.template, caught.value.line) == (template, 1)
    if "반복" in expected:
        assert "한 메일 부분의 한도 2,000,000 바이트" in str(caught.value)
        assert "digest.max_part_bytes" in str(caught.value)
    assert_renders_again(renderer)


@pytest.mark.parametrize(("template", "line"), [("allocation.txt.j2", 2), ("growing.txt.j2", 3)])
def test_a_render_past_the_memory_limit_fails_naming_it_and_its_process_is_replaced(
    memory_pool, template, line
):
    pool = memory_pool
    renderer = MailRenderer(None, overrides=TEMPLATES, pool=pool)
    assert_renders_again(renderer)
    [before] = pool.pids()
    with pytest.raises(TemplateError) as caught:
        within(renderer.render, template, {})
    assert str(caught.value) == (
        f"{template}, line {line}: 템플릿 렌더링이 메모리 제한 160 MB를 넘었습니다 (render.memory_mb)"
    )
    assert_renders_again(renderer)
    assert before not in pool.pids()


def test_a_runaway_loop_is_stopped_at_the_time_limit_with_its_line(renderer, pool):
    assert_renders_again(renderer)
    [before] = pool.pids()
    with pytest.raises(TemplateError) as caught:
        within(renderer.render_text, "runaway.txt.j2", {}, width=72)
    assert str(caught.value) == (
        f"runaway.txt.j2, line 3: 템플릿 렌더링이 {TIME_LIMIT}초 제한을 넘었습니다 "
        "(render.timeout_seconds)"
    )
    assert_renders_again(renderer)
    assert before not in pool.pids()


def test_a_render_process_that_stops_answering_is_killed_at_the_deadline(renderer, pool):
    """A stopped process cannot interrupt itself, like one stuck in one long C-level step."""
    assert_renders_again(renderer)
    [pid] = pool.pids()
    ticks = cpu_ticks(pid)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(error=_error_of(renderer.render, "loops.txt.j2", {})),
        daemon=True,
    )
    thread.start()
    wait_for(lambda: cpu_ticks(pid) > ticks, timeout=DEADLINE, what="the render to start")
    os.kill(pid, signal.SIGSTOP)
    thread.join(DEADLINE)
    assert not thread.is_alive(), "the render did not return"
    error = outcome["error"]
    assert isinstance(error, TemplateError)
    assert f"{TIME_LIMIT}초 제한을 넘었습니다 (render.timeout_seconds)" in str(error)
    assert error.template == "loops.txt.j2"
    assert pid not in pool.pids()
    assert not Path(f"/proc/{pid}").exists() or _state(pid) in ("Z", "X")
    assert_renders_again(renderer)


def test_killing_the_render_process_mid_render_is_a_clear_error_not_a_hang():
    # A long time limit, so that only the kill can end this render.
    outcome = {}
    slow = RenderPool(timeout_seconds=300, memory_mb=160, processes=1)
    try:
        slow_renderer = MailRenderer(None, overrides=TEMPLATES, pool=slow)
        assert_renders_again(slow_renderer)
        [pid] = slow.pids()
        ticks = cpu_ticks(pid)
        thread = threading.Thread(
            target=lambda: outcome.update(
                error=_error_of(slow_renderer.render, "loops.txt.j2", {})
            ),
            daemon=True,
        )
        thread.start()
        wait_for(lambda: cpu_ticks(pid) > ticks, timeout=DEADLINE, what="the render to start")
        os.kill(pid, signal.SIGKILL)
        thread.join(DEADLINE)
        assert not thread.is_alive(), "the render did not return"
        error = outcome["error"]
        assert isinstance(error, TemplateError) and error.template == "loops.txt.j2"
        assert "렌더링 프로세스가 렌더링 도중 종료되었습니다 (signal SIGKILL)" in str(error)
        assert "render.memory_mb" in str(error)
        assert_renders_again(slow_renderer)
        assert pid not in slow.pids()
    finally:
        slow.close()


def test_a_render_process_that_died_while_idle_is_replaced_without_an_error(renderer, pool):
    assert_renders_again(renderer)
    [pid] = pool.pids()
    os.kill(pid, signal.SIGKILL)
    assert_renders_again(renderer)
    [replacement] = pool.pids()
    assert replacement != pid


def test_renders_from_many_threads_each_get_their_own_result_while_one_runs_away(renderer, pool):
    names = [f"구독자{index}" for index in range(24)]
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def render(name):
        try:
            results[name] = renderer.render("ok.txt.j2", {"name": name})
        except BaseException as exc:  # noqa: BLE001 — collected for the assertion
            errors.append(exc)

    runaway = threading.Thread(
        target=lambda: errors.append(_error_of(renderer.render, "loops.txt.j2", {})),
        daemon=True,
    )
    runaway.start()
    threads = [threading.Thread(target=render, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    for thread in [*threads, runaway]:
        thread.join(DEADLINE)
        assert not thread.is_alive()
    assert results == {name: f"안녕하세요 {name}님\n" for name in names}
    [timeout] = errors
    assert "render.timeout_seconds" in str(timeout)
    assert len(pool.pids()) <= 2


def test_a_notice_subject_set_as_markup_comes_back_as_text(pool):
    templates = {"n.txt.j2": "{% set subject %}<b>제목</b>{% endset %}본문\n"}
    output, subject = MailRenderer(None, overrides=templates, pool=pool).render_setting(
        "n.txt.j2", {}, variable="subject"
    )
    assert (output, subject) == ("본문\n", "<b>제목</b>")
    assert type(subject) is str


def test_a_closed_pool_ends_its_processes_and_a_renderer_without_one_cleans_up(pool):
    renderer = MailRenderer(None, overrides=TEMPLATES)
    assert renderer.render("ok.txt.j2", {"name": "a"}) == "안녕하세요 a님\n"
    [pid] = renderer.pool.pids()
    renderer.close()
    assert renderer.pool.pids() == []
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _state(pid) in ("Z", "X"))
    with pytest.raises(RuntimeError, match="closed"):
        renderer.render("ok.txt.j2", {"name": "a"})


def _error_of(function, *args, **kwargs) -> BaseException | None:
    try:
        function(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 — returned for the assertion
        return exc
    return None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "X"
