"""URLs made fit to print (heroagent/redaction.py): every secret a URL can carry is shown as ***."""

from __future__ import annotations

import pytest

from heroagent.redaction import redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:s3cret@host/1", "redis://user:***@host/1"),
        ("redis://s3cret@host", "redis://***@host"),
        ("unix:///run/r.sock?db=1&password=s3cret", "unix:///run/r.sock?db=1&password=***"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        # Endpoints (OpenRPC, an AI base URL) carry keys in the query under other names.
        ("https://rpc.example/v1?token=s3cret&x=1", "https://rpc.example/v1?token=***&x=1"),
        ("https://h/?API_KEY=s3cret", "https://h/?API_KEY=***"),
        ("https://h/?access_token=s3cret&apikey=s3cret", "https://h/?access_token=***&apikey=***"),
        ("https://h/?secret=s3cret&key=s3cret&auth=s3cret", "https://h/?secret=***&key=***&auth=***"),
        ("https://h/?pass=s3cret&pwd=s3cret", "https://h/?pass=***&pwd=***"),
        ("https://h/?db=1&timeout=5&keyspace=a", "https://h/?db=1&timeout=5&keyspace=a"),
    ],
)
def test_urls_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_text_that_is_no_url_stays_as_it_is_but_a_user_part_is_hidden() -> None:
    """An empty setting stays empty (it was shown as "://", which the config then refused to load)."""
    assert redacted("") == ""
    assert redacted("localhost") == "localhost"
    assert redacted("s3cret@host:6379") == "***@host:6379"
