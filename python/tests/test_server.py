"""The `Server` value type: parsing, canonical text, equality, hashing, ordering."""

from __future__ import annotations

import copy
import pickle

import pytest

import scoutlb
from scoutlb import Server


def test_parse_forms_and_canonical_text() -> None:
    assert str(Server.parse("Scout1.Corp")) == "scout1.corp:22123"
    assert str(Server.parse("a:1")) == "a:1"
    assert str(Server.parse("[fd00::0001]:80")) == "[fd00::1]:80"
    assert str(Server.parse("fd00::1")) == "[fd00::1]:22123"
    assert Server.parse("[::ffff:10.0.0.1]").host == "10.0.0.1"
    assert Server.parse("10.0.0.1:9").port == 9
    assert Server.parse("host", default_port=8080) == Server("host", 8080)
    assert Server("Host.Example.") == Server.parse("host.example:22123")
    assert scoutlb.DEFAULT_PORT == 22123


def test_value_semantics() -> None:
    a, a2, b = Server.parse("A:1"), Server("a", 1), Server("b", 1)
    assert a == a2 and a != b and hash(a) == hash(a2)
    assert len({a, a2, b}) == 2
    assert sorted([Server("b", 1), Server("a", 2), Server("a", 1)]) == [Server("a", 1), Server("a", 2), b]
    assert a < b <= b and b > a >= a
    assert a != "a:1"
    assert repr(a) == 'Server("a", 1)'
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.deepcopy(b) == b
    with pytest.raises(AttributeError):
        a.port = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        _ = a < "b:1"  # type: ignore[operator]
    with pytest.raises(TypeError):

        class Sub(Server):  # type: ignore[misc]
            pass


@pytest.mark.parametrize(
    "text",
    ["", "a:0", "a:65536", "a:x", "a:", "a..b", "-a", "a_b c", "[fd00::1", "[zz]:1", "999.1.1.1", "[::1]x"],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(scoutlb.InvalidServerError) as info:
        Server.parse(text)
    assert isinstance(info.value, scoutlb.ConfigError)
    assert isinstance(info.value, scoutlb.Error)
    assert info.value.key is None
    assert f"`{text.strip()}`" in str(info.value)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(scoutlb.InvalidServerError, match="outside 1-65535"):
        Server("a", 70000)
    with pytest.raises(scoutlb.InvalidServerError, match="outside 1-65535"):
        Server("a", 0)
    with pytest.raises(scoutlb.InvalidServerError, match="outside 1-65535"):
        Server.parse("a", default_port=-1)
    with pytest.raises(scoutlb.InvalidServerError):
        Server("a" * 300)
    with pytest.raises(TypeError):
        Server.parse(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Server("a", "1")  # type: ignore[arg-type]
    # A bool is an int to Python, but not a port (behaviour.md, Words).
    with pytest.raises(TypeError, match="bool"):
        Server("a", True)
    with pytest.raises(TypeError, match="bool"):
        Server.parse("a", default_port=False)
    with pytest.raises((UnicodeEncodeError, scoutlb.Error)):
        Server.parse("a\udcff")
