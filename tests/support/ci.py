"""Machine requirements of a few tests (Chromium, a CJK font): skipped where missing, but on CI
(`CI=true`, exported by .ci/run) a missing requirement FAILS the test, so CI cannot go green by
silently skipping what it was set up to check."""

from __future__ import annotations

import os

import pytest

ON_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def requires(available: bool, reason: str) -> pytest.MarkDecorator:
    """Mark a test that needs something of the machine; conftest.py skips or (on CI) fails it."""
    return pytest.mark.requires(available=available, reason=reason)


def check(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        if not mark.kwargs["available"]:
            reason = mark.kwargs["reason"]
            if ON_CI:
                pytest.fail(f"CI=true, but {reason}", pytrace=False)
            pytest.skip(reason)
