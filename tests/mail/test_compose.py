"""docker-compose.yml cannot run here (no Docker engine): check that it parses, names real settings and commands."""

from __future__ import annotations

import os
import re
import shlex

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from mailer.cli.main import app as cli_app
from mailer.config import PROJECT_ROOT, Settings, load_settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


def _is_setting(env_name: str) -> bool:
    parts = env_name.removeprefix("MAILER_").lower().split("__")
    model: type[BaseModel] = Settings
    for index, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if index < len(parts) - 1:
            if not is_section:
                return False
            model = annotation
        elif is_section:
            return False
    return True


MAILER_SERVICES = ("web", "scheduler", "worker-1", "worker-2")


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def interpolated(value: str, *, environment: dict[str, str]) -> str:
    """``value`` as compose would pass it: ``${NAME:-default}`` and ``${NAME:?error}`` filled in."""

    def fill(match: re.Match[str]) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3)
        if name in environment:
            return environment[name]
        assert operator == ":-", f"${{{name}}} must be set: {word}"
        return word

    return re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", fill, value)


def mailer_commands(command: list[str]) -> list[list[str]]:
    """The ``mailer …`` invocations of a service's command (``sh -c "a && exec b"`` too)."""
    if command[:2] == ["sh", "-c"]:
        parts = [shlex.split(part) for part in command[2].split("&&")]
        return [part[1:] if part[0] == "exec" else part for part in parts]
    return [command]


def test_compose_runs_web_a_scheduler_and_two_workers_on_postgresql():
    found = services()
    assert set(found) == {*MAILER_SERVICES, "postgres", "mailpit"}
    assert "healthcheck" in found["postgres"]
    assert found["postgres"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pgdata" in yaml.safe_load(COMPOSE.read_text())["volumes"]
    commands = {name: mailer_commands(found[name]["command"]) for name in MAILER_SERVICES}
    assert commands["web"] == [
        ["mailer", "init"],
        ["mailer", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-scheduler", "--no-worker"],
    ]
    assert commands["scheduler"] == [["mailer", "scheduler"]]
    assert commands["worker-1"] == commands["worker-2"] == [["mailer", "worker"]]
    # One image, four processes; the others start once web has initialised the schema.
    assert len({found[name]["image"] for name in MAILER_SERVICES}) == 1
    for name in ("scheduler", "worker-1", "worker-2"):
        assert found[name]["depends_on"]["web"]["condition"] == "service_healthy"
    assert found["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_healthcheck_asks_the_service_itself():
    found = services()
    web = " ".join(found["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in web
    assert found["scheduler"]["healthcheck"]["test"] == ["CMD", "mailer", "heartbeat", "scheduler"]
    for name in ("worker-1", "worker-2"):
        assert found[name]["healthcheck"]["test"] == ["CMD", "mailer", "heartbeat", "worker"]
        assert found[name]["healthcheck"]["interval"]


def test_every_command_of_compose_is_a_real_mailer_command():
    """Each command line parses against the real CLI (an unknown command or option fails)."""
    found = services()
    invocations = [
        *(call for name in MAILER_SERVICES for call in mailer_commands(found[name]["command"])),
        *(found[name]["healthcheck"]["test"][1:] for name in MAILER_SERVICES[1:]),
    ]
    runner = CliRunner()
    for call in invocations:
        assert call[0] == "mailer", call
        result = runner.invoke(cli_app, [*call[1:], "--help"])
        assert result.exit_code == 0, f"{call}: {result.output}"
    bogus = runner.invoke(cli_app, ["serve", "--no-such-option", "--help"])
    assert bogus.exit_code != 0


def test_each_service_environment_loads_as_production_settings(monkeypatch):
    """The values compose passes (with the secret from the environment) pass the production checks."""
    # Only the test harness's own MAILER_TEST_* variables stay.
    for name in [n for n in os.environ if n.startswith("MAILER_") and "_TEST_" not in n]:
        monkeypatch.delenv(name)
    given = {"MAILER_SECRET_KEY": "compose-test-" + "k" * 40}
    for name in MAILER_SERVICES:
        for key, value in services()[name]["environment"].items():
            monkeypatch.setenv(key, interpolated(str(value), environment=given))
        settings = load_settings()
        assert settings.env == "production"
        assert settings.database_url.startswith("postgresql://")
        assert settings.smtp.host == "mailpit" and not settings.smtp.uses_outbox
        assert settings.secret_key.get_secret_value() == given["MAILER_SECRET_KEY"]
        assert settings.base_url == "http://localhost:8000"
        assert settings.log.format == "json"
    # Without the secret, compose itself refuses to start (the `:?` form).
    with pytest.raises(AssertionError, match="MAILER_SECRET_KEY"):
        interpolated("${MAILER_SECRET_KEY:?set it}", environment={})


def test_every_mailer_variable_in_compose_is_a_real_setting():
    names = set(re.findall(r"\bMAILER_[A-Z0-9_]+", COMPOSE.read_text()))
    assert names, "compose sets no MAILER_ variables"
    unknown = sorted(name for name in names if not _is_setting(name))
    assert unknown == []


def test_setting_name_check_rejects_typos():
    assert _is_setting("MAILER_SMTP__HOST")
    assert not _is_setting("MAILER_SMTP__HOTS")
    assert not _is_setting("MAILER_SMTP")
    assert not _is_setting("MAILER_DATABASE_URL__X")


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV KEY=value …`` pairs of the Dockerfile (continuation lines joined)."""
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0].upper() == "ENV":
            env.update(word.split("=", 1) for word in words[1:])
    return env


def test_the_image_and_the_compose_file_run_in_production():
    """Issue 11 item 6: the image's own command binds 0.0.0.0, so it must not be development."""
    env = _dockerfile_env()
    assert env["MAILER_ENV"] == "production"
    # MAILER_CONFIG names the TOML file itself; every other MAILER_ variable is a setting.
    names = [name for name in env if name.startswith("MAILER_") and name != "MAILER_CONFIG"]
    assert sorted(name for name in names if not _is_setting(name)) == []
    for name in MAILER_SERVICES:
        settings = services()[name]["environment"]
        assert settings["MAILER_ENV"] == "production"
        # Production refuses the built-in outbox: compose names a relay.
        assert settings["MAILER_SMTP__HOST"]
