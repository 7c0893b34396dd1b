"""Settings: layering of defaults, TOML and environment; clear one-line errors; no leaked secrets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from mailer.config import PROJECT_ROOT, Settings, load_settings
from mailer.errors import ConfigError

MAILER_TOML = PROJECT_ROOT / "config" / "mailer.toml"


def test_defaults_match_the_design_table(make_settings):
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/mailer.db"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.smtp.host is None and settings.smtp.uses_outbox
    assert (settings.smtp.connections, settings.smtp.rate) == (8, 0)
    assert settings.feeds.timeout == 20 and settings.feeds.allow_private is False
    assert settings.timezone == "Asia/Seoul"


def test_environment_overrides_nested_keys(monkeypatch):
    monkeypatch.setenv("MAILER_SMTP__HOST", "relay.example.kr")
    monkeypatch.setenv("MAILER_SMTP__CONNECTIONS", "3")
    monkeypatch.setenv("MAILER_FEEDS__ALLOW_PRIVATE", "true")
    monkeypatch.setenv("MAILER_DATABASE_URL", "postgresql://postgres@127.0.0.1/x")
    settings = load_settings()
    assert settings.smtp.host == "relay.example.kr"
    assert settings.smtp.connections == 3
    assert settings.smtp.effective_port == 25
    assert settings.feeds.allow_private is True
    assert settings.database_url.startswith("postgresql://")


def test_toml_file_named_by_mailer_config_is_layered_under_env(monkeypatch, tmp_path):
    config = tmp_path / "custom.toml"
    config.write_text('base_url = "https://news.example.kr/"\n[digest]\nmax_stories = 12\n')
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    monkeypatch.setenv("MAILER_DIGEST__MAX_STORIES", "5")
    settings = load_settings()
    assert settings.base_url == "https://news.example.kr"
    assert settings.digest.max_stories == 5


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("MAILER_SMTP__PORT", "not-a-port", "smtp.port (MAILER_SMTP__PORT)"),
        ("MAILER_SMTP__TLS", "sometimes", "smtp.tls (MAILER_SMTP__TLS)"),
        ("MAILER_TIMEZONE", "Mars/Olympus", "timezone (MAILER_TIMEZONE)"),
        ("MAILER_DATABASE_URL", "mysql://x", "database_url (MAILER_DATABASE_URL)"),
        ("MAILER_FEEDS__TIMEOUT", "-1", "feeds.timeout (MAILER_FEEDS__TIMEOUT)"),
    ],
)
def test_a_bad_value_names_the_key_and_never_echoes_the_value(monkeypatch, env, value, named):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert value not in message
    assert "\n" not in message


def test_a_secret_is_never_printed(monkeypatch):
    monkeypatch.setenv("MAILER_SMTP__PASSWORD", "hunter2-very-secret")
    monkeypatch.setenv("MAILER_SMTP__PORT", "hunter2-very-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    monkeypatch.delenv("MAILER_SMTP__PORT")
    settings = load_settings(smtp={"password": "hunter2-very-secret"})
    assert "hunter2" not in repr(settings)


def test_production_refuses_a_placeholder_secret(monkeypatch):
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_BASE_URL", "https://news.example.kr")
    monkeypatch.setenv("MAILER_SMTP__HOST", "relay.example.kr")
    monkeypatch.setenv("MAILER_SECRET_KEY", "change-me")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings()
    monkeypatch.setenv("MAILER_SECRET_KEY", "a" * 40)
    assert load_settings().secret() == "a" * 40


def test_production_refuses_the_builtin_outbox(monkeypatch):
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_BASE_URL", "https://news.example.kr")
    monkeypatch.setenv("MAILER_SECRET_KEY", "a" * 40)
    with pytest.raises(ConfigError, match=r"smtp\.host must name the SMTP relay in production"):
        load_settings()
    # A blank host is no relay either (it would pass for one and fail at the first send).
    monkeypatch.setenv("MAILER_SMTP__HOST", " ")
    with pytest.raises(ConfigError, match=r"smtp\.host must name the SMTP relay in production"):
        load_settings()
    monkeypatch.setenv("MAILER_SMTP__HOST", "relay .example.kr")
    with pytest.raises(ConfigError, match=r"smtp\.host .*must be one host name or address"):
        load_settings()
    monkeypatch.setenv("MAILER_SMTP__HOST", " relay.example.kr ")
    assert load_settings().smtp.host == "relay.example.kr"


def test_trusted_proxies_must_be_addresses_or_networks():
    assert load_settings(web={"trusted_proxies": ["10.0.0.0/8", "::1"]}).web.trusted_proxies
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies .*must list IP networks"):
        load_settings(web={"trusted_proxies": ["nginx"]})


def test_development_secret_is_generated_once(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    first = settings.secret()
    assert len(first) >= 40
    assert load_settings(data_dir=tmp_path).secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_unknown_key_in_the_toml_file_is_refused(monkeypatch, tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[smtp]\nconections = 4\n")
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"smtp\.conections .*not a known setting"):
        load_settings()


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MAILER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def _setting_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _setting_names(annotation, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def test_mailer_toml_lists_every_key_with_a_comment():
    text = MAILER_TOML.read_text("utf-8")
    section = ""
    listed = set()
    for line in text.splitlines():
        if match := re.match(r"^\[(\w+)\]", line):
            section = match.group(1) + "."
        elif match := re.match(r"^#?\s?(\w+) = .*#", line):
            listed.add(section + match.group(1))
    missing = {name for name in _setting_names(Settings) if name not in listed}
    # digest.sections is a table of its own ([digest.sections]) rather than a key line.
    assert missing <= {"digest.sections"}, f"keys missing from config/mailer.toml: {missing}"
    assert "[digest.sections]" in text


def test_settings_are_not_built_at_import(tmp_path):
    # A broken environment must not break `import mailer.cli`; only start-up reports it.
    env = {"MAILER_SMTP__PORT": "broken", "PATH": "/usr/bin:/bin"}
    code = "import mailer.cli, mailer.web.app, mailer.bootstrap; print('imported')"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.strip() == "imported", result.stderr


def test_repository_config_file_loads_cleanly(monkeypatch):
    monkeypatch.setenv("MAILER_CONFIG", str(MAILER_TOML))
    settings = load_settings()
    assert settings.compliance.phone == "070-7784-3185"
    assert Path(settings.data_dir) == Path("var")
