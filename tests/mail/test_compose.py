"""docker-compose.yml cannot run here (no Docker engine): check that it parses and names real settings."""

from __future__ import annotations

import re

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
