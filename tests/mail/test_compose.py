"""docker-compose.yml cannot run here (no Docker engine): check that it parses and names real settings."""

from __future__ import annotations

import re
import shlex

import yaml
from pydantic import BaseModel

from mailer.config import PROJECT_ROOT, Settings

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


def test_compose_file_has_the_five_services():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["services"]) == {"web", "scheduler", "worker", "postgres", "mailpit"}
    assert "healthcheck" in compose["services"]["postgres"]
    assert compose["services"]["postgres"]["volumes"]
    commands = {
        name: compose["services"][name]["command"] for name in ("web", "scheduler", "worker")
    }
    assert "mailer serve" in " ".join(commands["web"])
    assert commands["scheduler"] == ["mailer", "scheduler"]
    assert commands["worker"] == ["mailer", "worker"]
    # One image, three commands.
    images = {compose["services"][name]["image"] for name in ("web", "scheduler", "worker")}
    assert len(images) == 1


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
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("web", "scheduler", "worker"):
        settings = compose["services"][name]["environment"]
        assert settings["MAILER_ENV"] == "production"
        # Production refuses the built-in outbox: compose names a relay.
        assert settings["MAILER_SMTP__HOST"]
