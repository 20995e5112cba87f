"""Production settings pass Django's deployment checklist with no warning at all."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path) -> dict:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CH_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "clearinghouse.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.cn",
        "CSRF_TRUSTED_ORIGINS": "https://portal.example.cn",
        "CH_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://clearinghouse@db.internal:5432/clearinghouse",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "CH_CONTROLLER_NAME": "Example Data Services Ltd",
        "CH_CONTROLLER_NAME_ZH": "示例数据服务有限公司",
        "CH_CONTROLLER_CONTACT": "privacy@portal.example.cn",
        "CH_OPERATOR_ADDRESS": "上海市示例路 1 号",
        "CH_PROTECTION_OFFICER_NAME": "王某",
        "CH_PROTECTION_OFFICER_CONTACT": "dpo@portal.example.cn",
        "CH_COMPLAINTS_CONTACT": "complaints@portal.example.cn",
    }


def test_check_deploy_prints_no_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_production_cookies_and_headers(tmp_path):
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({k: getattr(s, k) for k in ["
        "'DEBUG','SESSION_COOKIE_SECURE','CSRF_COOKIE_SECURE','LANGUAGE_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY',"
        "'SESSION_EXPIRE_AT_BROWSER_CLOSE','SESSION_COOKIE_AGE','SECURE_SSL_REDIRECT','SECURE_HSTS_SECONDS',"
        "'X_FRAME_OPTIONS','SECURE_CONTENT_TYPE_NOSNIFF','SECURE_REFERRER_POLICY']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_production_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["LANGUAGE_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["SESSION_EXPIRE_AT_BROWSER_CLOSE"]
    assert values["SESSION_COOKIE_AGE"] <= 3600
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["X_FRAME_OPTIONS"] == "DENY" and values["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"


@pytest.mark.parametrize(
    "variable",
    [
        "CH_CONTROLLER_NAME",
        "CH_CONTROLLER_NAME_ZH",
        "CH_CONTROLLER_CONTACT",
        "CH_OPERATOR_ADDRESS",
        "CH_PROTECTION_OFFICER_NAME",
        "CH_PROTECTION_OFFICER_CONTACT",
        "CH_COMPLAINTS_CONTACT",
    ],
)
def test_production_refuses_to_start_without_the_operators_details(tmp_path, variable):
    """The trust page names who runs the service and whom to contact (PIPL Art. 17, 52):
    in production each detail must come from the environment, never the demo placeholder."""
    env = _production_env(tmp_path)
    del env[variable]
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"environment variable {variable} is required" in result.stderr
