"""A missing or malformed setting fails at start with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clearinghouse.core import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env.env_bool("X_FLAG", False), "maybe", "X_FLAG must be one of"),
        (lambda: env.env_int("X_NUMBER", 1), "ten", "X_NUMBER must be an integer"),
        (lambda: env.env_int("X_NUMBER", 1, minimum=5), "3", "X_NUMBER must be at least 5"),
        (lambda: env.env_float("X_NUMBER", 1.0), "1,5", "X_NUMBER must be a number"),
        (lambda: env.env_choice("X_MODE", "a", {"a", "b"}), "c", "X_MODE must be one of a, b"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch, reader, value, message):
    for name in ("X_FLAG", "X_NUMBER", "X_MODE"):
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_required_value(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED is required"):
        env.env_str("X_REQUIRED")
    monkeypatch.setenv("X_REQUIRED", "  ")
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED is required"):
        env.env_str("X_REQUIRED")


def test_defaults_and_good_values(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert env.env_bool("X_FLAG", True) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env.env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]


def start(tmp_path, **overrides) -> subprocess.CompletedProcess:
    """Start Django as the service would (manage.py check) with a given environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CH_", "DJANGO_", "DATABASE", "REDIS", "CELERY"))}
    environment.update(CH_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="clearinghouse.settings", **overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "perhaps"}, "DEBUG must be one of"),
        ({"DATABASE_URL": "mysql://localhost/db"}, "DATABASE_URL must point to PostgreSQL or SQLite"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is malformed"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with redis://"),
        ({"CH_ENV": "staging"}, "CH_ENV must be one of"),
        ({"CH_ENV": "production"}, "DJANGO_SECRET_KEY is required when CH_ENV=production"),
        ({"CH_ENV": "production", "DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be at least 50 characters"),
        ({"CH_ENV": "production", "DJANGO_SECRET_KEY": "k" * 60}, "ALLOWED_HOSTS is required"),
        ({"CH_LINK_CODE_TTL_MINUTES": "0"}, "CH_LINK_CODE_TTL_MINUTES must be at least 1"),
    ],
)
def test_bad_configuration_fails_at_start_naming_the_variable(tmp_path, overrides, message):
    result = start(tmp_path, **overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_zero_configuration_starts_and_creates_its_var_directory(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()
    assert (tmp_path / "broker" / "queue").is_dir()


def test_production_keys_are_never_generated(tmp_path):
    from django.test import override_settings

    from clearinghouse.core import crypto

    with override_settings(CH_KEY_DIR=str(tmp_path / "absent"), CH_GENERATE_KEYS=False):
        crypto.reset_key_cache()
        try:
            with pytest.raises(ImproperlyConfigured, match="does not exist"):
                crypto.signer_get("receipts")
        finally:
            crypto.reset_key_cache()


def test_a_bad_variable_is_one_line_on_stderr_not_a_traceback(tmp_path):
    result = start(tmp_path, CH_LINK_CODE_TTL_MINUTES="abc")
    assert result.returncode == 1
    assert result.stderr == "error: environment variable CH_LINK_CODE_TTL_MINUTES must be an integer, got 'abc'\n"
    assert result.stdout == ""
