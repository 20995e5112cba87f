"""The stylesheet's colour pairs keep WCAG 2.1 contrast: 4.5:1 for text, 3:1 for the focus
ring and control borders. Computed from the custom properties, so a palette change that
breaks contrast fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "clearinghouse/portal/static/portal/portal.css").read_text()
PALETTE = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return name if name.startswith("#") else PALETTE[name]


TEXT_PAIRS = [
    ("ink", "paper"),
    ("ink", "wash"),
    ("muted", "paper"),
    ("muted", "wash"),
    ("brand", "paper"),
    ("brand", "wash"),
    ("#ffffff", "brand"),
    ("#ffffff", "brand-dark"),
    ("#ffffff", "danger"),
    ("ok", "ok-wash"),
    ("off", "off-wash"),
    ("danger", "danger-wash"),
    ("danger", "paper"),
    ("ink", "focus"),
    ("brand", "#e1e8ef"),
    ("muted", "#e8f0f8"),
]


@pytest.mark.parametrize("text,background", TEXT_PAIRS)
def test_text_contrast_is_at_least_4_5(text, background):
    assert contrast(colour(text), colour(background)) >= 4.5


@pytest.mark.parametrize("background", ["paper", "wash", "brand"])
def test_focus_ring_and_borders_are_visible(background):
    # The ring is a dark outline around a yellow halo: one of the two always stands out.
    ring = max(contrast(colour("ink"), colour(background)), contrast(colour("focus"), colour(background)))
    assert ring >= 3
    assert contrast(colour("ink"), colour("paper")) >= 3  # input borders use --ink
