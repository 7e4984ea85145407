"""NO_PROXY and *_PROXY read as curl and Go read them (`proxies.bypasses`, `proxy_for`)."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidInput
from lamina.transports.registry.proxies import bypasses, proxy_for

# (NO_PROXY, host, port, bypassed)
TABLE = [
    ("", "reg.example", 443, False),
    ("*", "reg.example", 443, True),
    ("*", "127.0.0.1", 5000, True),
    ("reg.example", "reg.example", 443, True),  # the name itself
    ("example", "reg.example", 443, True),  # and every name under it
    ("example", "example", 443, True),
    ("example", "badexample", 443, False),  # a suffix only at a dot
    (".example", "reg.example", 443, True),  # leading dot: under it only
    (".example", "example", 443, False),
    ("*.example", "reg.example", 443, True),
    ("*.example", "example", 443, False),
    ("EXAMPLE.com", "Reg.Example.COM", 443, True),  # case does not matter
    ("reg.example.", "reg.example", 443, True),  # nor a trailing dot
    (" a.test , reg.example ", "reg.example", 443, True),  # spaces around entries
    (",,", "reg.example", 443, False),
    ("reg.example:5000", "reg.example", 5000, True),  # a port: that port only
    ("reg.example:5000", "reg.example", 443, False),
    ("reg.example:443", "reg.example", 443, True),  # (a URL's default port counts)
    ("127.0.0.0/8", "127.0.0.1", 5000, True),
    ("127.0.0.0/8", "127.1.2.3", 80, True),
    ("127.0.0.0/8", "128.0.0.1", 80, False),
    ("127.0.0.0/8", "localhost", 80, False),  # a range matches addresses, not names
    ("10.0.0.0/8", "127.0.0.1", 80, False),
    ("127.0.0.1", "127.0.0.1", 80, True),
    ("127.0.0.1", "127.0.0.2", 80, False),
    ("127.0.0.1:5000", "127.0.0.1", 5000, True),
    ("127.0.0.1:5000", "127.0.0.1", 5001, False),
    ("::1", "::1", 443, True),
    ("::1", "[::1]", 443, True),
    ("[::1]:5000", "[::1]", 5000, True),
    ("[::1]:5000", "::1", 443, False),
    ("fd00::/8", "fd12::5", 443, True),
    ("fd00::/8", "fe80::1", 443, False),
    ("0.0.1", "127.0.0.1", 80, False),  # an address is not a domain suffix
    ("not/a-range", "reg.example", 443, False),  # an invalid range never matches
    ("localhost", "localhost", 5000, True),
    ("localhost", "127.0.0.1", 5000, False),  # no lookups: names match names
]


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypassed"), TABLE)
def test_bypasses(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    assert bypasses(no_proxy, host, port) is bypassed


def test_proxy_for_picks_the_scheme_s_variable() -> None:
    env = {"HTTP_PROXY": "http://plain:3128", "HTTPS_PROXY": "http://secure:3128"}
    assert proxy_for("http", "reg", None, env) == "http://plain:3128"
    assert proxy_for("https", "reg", None, env) == "http://secure:3128"
    assert proxy_for("https", "reg", None, {"HTTP_PROXY": "http://plain:3128"}) is None


def test_upper_case_wins_and_lower_case_is_read_when_it_is_unset() -> None:
    both = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"}
    assert proxy_for("https", "reg", None, both) == "http://upper:1"
    assert proxy_for("https", "reg", None, {"https_proxy": "http://lower:1"}) == "http://lower:1"
    empty_upper = {"HTTPS_PROXY": "", "https_proxy": "http://lower:1"}
    assert proxy_for("https", "reg", None, empty_upper) == "http://lower:1"
    no = {"HTTPS_PROXY": "http://p:1", "no_proxy": "reg"}
    assert proxy_for("https", "reg", None, no) is None
    assert proxy_for("https", "reg", None, {**no, "NO_PROXY": "other"}) == "http://p:1"


def test_a_proxy_without_a_scheme_is_an_http_proxy() -> None:
    assert proxy_for("https", "reg", None, {"HTTPS_PROXY": "proxy:3128"}) == "http://proxy:3128"


def test_no_proxy_uses_the_scheme_s_default_port() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "reg:443"}
    assert proxy_for("https", "reg", None, env) is None
    assert proxy_for("https", "reg", 5000, env) == "http://p:1"


@pytest.mark.parametrize("value", ["socks5://p:1080", "http://", "http://p:port", "ftp://p"])
def test_a_proxy_that_is_not_an_http_url_is_invalid_input_naming_the_variable(
    value: str,
) -> None:
    with pytest.raises(InvalidInput) as err:
        proxy_for("https", "reg", None, {"https_proxy": value})
    assert f"https_proxy={value!r}" in err.value.message
    assert proxy_for("https", "reg", None, {"https_proxy": value, "NO_PROXY": "*"}) is None
