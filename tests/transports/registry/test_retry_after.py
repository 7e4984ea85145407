"""Retry-After: seconds, an HTTP date, or anything else (ignored, not a crash)."""

from __future__ import annotations

from lamina.transports.registry.answers import MAX_RETRY_AFTER, retry_after


def test_seconds_are_used_and_capped() -> None:
    assert retry_after("2") == 2.0
    assert retry_after("-5") == 0.0
    assert retry_after("999999") == MAX_RETRY_AFTER


def test_past_http_date_means_now() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_missing_or_malformed_value_falls_back_to_backoff() -> None:
    assert retry_after(None) is None
    assert retry_after("") is None
    assert retry_after("soon") is None
    assert retry_after("Wed, 99 Foo 2015") is None
