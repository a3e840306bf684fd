"""Helpers the test tiers share; a test imports them from here, never from another test file.
Fixtures live in tests/conftest.py, records come from tests/factory.py."""
