"""A privacy-loss statement in the shape releases.selectors.privacy_loss_statement returns,
for testing the page before (and independently of) the release engine."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def sample_statement() -> dict:
    now = timezone.now()
    charges = [
        ("r-1", "c2m-product-design", "ErgoChair", "consumers", "0.5", now - timedelta(days=200)),
        ("r-2", "c2m-product-design", "ErgoChair", "mean_value", "1.0", now - timedelta(days=90)),
        ("r-3", "c2m-demand-forecast", "bloomco", "signals", "0.25", now - timedelta(days=30)),
        ("r-4", "c2m-product-design", "PixelPhone", "top_k", "0.75", now - timedelta(days=3)),
        ("r-0", "c2m-product-design", "ErgoChair", "consumers", "2.0", now - timedelta(days=400)),  # outside the window
    ]
    return {
        "window_days": 365,
        "purposes": [
            {
                "purpose": "c2m-demand-forecast",
                "title": {"zh-hans": "帮助厂家预测下个月的需求", "en": "Help manufacturers forecast next month's demand"},
                "cap": "6.0000",
                "spent_in_window": "0.25",
                "remaining": "5.75",
            },
            {
                "purpose": "c2m-product-design",
                "title": {"zh-hans": "帮助厂家设计你想要的产品", "en": "Help manufacturers design products you want"},
                "cap": "6.0000",
                "spent_in_window": "2.25",
                "remaining": "3.75",
            },
        ],
        "charges": [
            {"release_id": rid, "purpose": purpose, "manufacturer": maker, "measure": measure, "epsilon": eps, "charged_at": at.isoformat()}
            for rid, purpose, maker, measure, eps, at in charges
        ],
        "total_epsilon": "4.50",
    }
