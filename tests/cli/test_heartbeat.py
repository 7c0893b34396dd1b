"""`mailer heartbeat ROLE`, the compose healthcheck of the scheduler and the workers, over real processes."""

from __future__ import annotations

from tests.helpers import cli_env, run_cli, start_cli, stop, wait_for


def test_heartbeat_succeeds_while_the_process_of_its_role_runs_here_and_fails_after(tmp_path):
    env = cli_env(
        MAILER_DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SCHEDULER__HEARTBEAT_SECONDS="0.5",
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("heartbeat", "worker", env=env, cwd=tmp_path).returncode == 1
    processes = [start_cli(role, env=env, cwd=tmp_path) for role in ("scheduler", "worker")]
    try:
        for role in ("scheduler", "worker"):
            beating = wait_for(
                lambda role=role: run_cli("heartbeat", role, env=env, cwd=tmp_path).returncode == 0,
                timeout=60,
                interval=0.5,
                what=f"a {role} heartbeat",
            )
            assert beating
    finally:
        outputs = [stop(process) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    # A clean stop removes the process's heartbeat: the check fails at once.
    for role in ("scheduler", "worker"):
        result = run_cli("heartbeat", role, env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert f"no {role} on this host" in result.stdout
    assert run_cli("heartbeat", "nobody", env=env, cwd=tmp_path).returncode == 2
