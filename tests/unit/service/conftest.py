"""The service world every use-case test builds on (tests/support/world.py)."""

from tests.support.world import make_world, servers, world  # noqa: F401 - fixtures
