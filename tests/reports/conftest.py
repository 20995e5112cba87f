"""Report tests use the release engine's world (signals written as intake stores them)."""

from tests.releases.conftest import FORECAST, PRODUCT, World, world, world_of_module  # noqa: F401 - the fixtures, for this package
