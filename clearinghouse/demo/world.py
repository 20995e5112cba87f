"""The demo world: platforms, manufacturers, the shipped purposes, a demo consumer and a
compliance officer. Idempotent, so `make run` can call it every time.

The rest of the world is added by the modules beside this one, in order: signals
(clearinghouse.demo.signals), budgets (clearinghouse.demo.budgets), and the demo
consumer's platform links (clearinghouse.demo.links).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from clearinghouse.accounts.models import Manufacturer, Platform
from clearinghouse.accounts.services import (
    compliance_officer_create,
    consumer_register,
    manufacturer_user_create,
    platform_register,
)
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.core.actors import Actor
from clearinghouse.demo.budgets import demo_budgets
from clearinghouse.demo.links import demo_consumer_links
from clearinghouse.demo.parties import DEMO_MANUFACTURERS, DEMO_PLATFORMS
from clearinghouse.demo.signals import demo_signals_seed
from clearinghouse.releases.recipients import manufacturer_register

PURPOSE_DIR = Path(settings.BASE_DIR) / "clearinghouse" / "consent" / "purposes"


def _credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.txt"


def demo_seed(*, options: dict, log) -> None:
    actor = Actor.operator("seed_demo")
    for path in sorted(PURPOSE_DIR.glob("*.json")):
        purpose, created = purpose_publish(document=purpose_file_read(path), actor=actor, approve=True)
        log(f"purpose {purpose.code} v{purpose.version}: {'published' if created else 'present'} ({purpose.status})")

    credentials: list[str] = []
    for slug, name in DEMO_PLATFORMS:
        if not Platform.objects.filter(slug=slug).exists():
            platform_register(slug=slug, name=name, actor=actor)
            log(f"platform {slug}: registered (get a key with: manage.py rotate_key {slug})")
    for slug, name, sectors in DEMO_MANUFACTURERS:
        if not Manufacturer.objects.filter(slug=slug).exists():
            manufacturer_register(slug=slug, name=name, sectors=sectors, actor=actor)
            log(f"manufacturer {slug}: registered (get a key with: manage.py rotate_key {slug})")

    if not User.objects.filter(username="demo").exists():
        password = secrets.token_urlsafe(12)
        consumer_register(username="demo", password=password, age_confirmed=True, channel="portal")
        credentials.append(f"consumer  demo / {password}")
    if not User.objects.filter(username="officer").exists():
        password = secrets.token_urlsafe(12)
        compliance_officer_create(username="officer", password=password, actor=actor)
        credentials.append(f"officer   officer / {password}")
    # One workbench login per manufacturer (/workbench/), for its staff.
    for slug, _name, _sectors in DEMO_MANUFACTURERS:
        username = f"{slug}-analyst"
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            manufacturer_user_create(manufacturer_slug=slug, username=username, password=password, actor=actor)
            credentials.append(f"workbench {username} / {password}  (/workbench/, {slug})")
    if credentials:
        with _credentials_file().open("a") as handle:
            handle.write("\n".join(credentials) + "\n")

    demo_signals_seed(options=options, log=log)
    demo_budgets(options=options, log=log)
    demo_consumer_links(options=options, log=log)

    if _credentials_file().exists():
        log(f"demo logins (also in {_credentials_file()}):")
        for line in _credentials_file().read_text().splitlines():
            log(f"  {line}")
