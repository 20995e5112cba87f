"""The portal's part of `seed_demo`: the demo consumer arrives linked to two of the three
demo platforms, so that the dashboard has switches to try at once and the third platform
is left for trying a link code."""

from __future__ import annotations

from clearinghouse.accounts.models import Consumer, Platform, PlatformLink
from clearinghouse.accounts.services import link_code_issue, platform_link_redeem
from clearinghouse.core.actors import Actor

DEMO_USERNAME = "demo"
DEMO_LINKED_PLATFORMS = ("maomall", "livebuy")


def demo_consumer_links(*, options: dict, log) -> None:
    consumer = Consumer.objects.filter(user__username=DEMO_USERNAME, erased_at__isnull=True).first()
    if consumer is None:
        return
    for slug in DEMO_LINKED_PLATFORMS:
        platform = Platform.objects.filter(slug=slug).first()
        if platform is None or PlatformLink.objects.filter(consumer=consumer, platform=platform).exists():
            continue
        # The same two steps as in real life: the person asks for a code, the platform redeems it.
        code, _ = link_code_issue(consumer=consumer, platform_slug=slug, actor=Actor(kind="consumer", id=str(consumer.pseudonym)))
        platform_link_redeem(platform=platform, code=code, subject_ref=f"demo-user@{slug}", actor=Actor(kind="platform", id=slug))
        log(f"demo consumer linked to {slug}")
