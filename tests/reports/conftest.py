"""Report tests use the release engine's world (signals written as intake stores them)."""

from tests.releases.conftest import FORECAST, PRODUCT, World, world  # noqa: F401 - the fixture, for this package
