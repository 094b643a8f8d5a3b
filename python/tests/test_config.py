"""Configuration as keyword arguments and as JSON text; every kind of bad input names its key."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest

import scoutlb
from scoutlb import Client, Server


def test_every_spec_key_is_a_keyword(tmp_path: Path) -> None:
    # A list literal mixing str and Server needs its type named (mypy joins it to list[object]).
    mixed: list[str | Server] = ["10.0.0.11", Server("10.0.0.12", 9000), "[fd00::1]:7"]
    client = Client(
        servers=mixed,
        manager_load_balancer=None,
        state_file=tmp_path / "state.json",
        default_port=22123,
        probe="tcp",
        scheme="http",
        ca_file=None,
        ca_dir=None,
        tls_verify="full",
        connect_timeout_ms=1000,
        attempt_delay_ms=0,
        answer_delay_ms=0,
        deadline_ms=5000,
        dns_timeout_ms=500,
        nameservers=["127.0.0.1:5353"],
        search_domains=["corp.example"],
        retry={"base_ms": 10, "factor": 1.5, "cap_ms": 100, "max_tries": 2},
        failover_order="list",
        device_id="dev-1",
        list_keys=["vHy8tWNjdfodgkNNRmck2SN39TuYBpXdSdJtDOEiBaU="],
        events=None,
    )
    assert client.seeds == [Server("10.0.0.11"), Server("10.0.0.12", 9000), Server("fd00::1", 7)]
    assert set(scoutlb.CONFIG_KEYS) == {
        "servers", "manager_load_balancer", "state_file", "default_port", "probe", "scheme", "ca_file",
        "ca_dir", "tls_verify", "connect_timeout_ms", "attempt_delay_ms", "answer_delay_ms", "deadline_ms", "dns_timeout_ms", "nameservers",
        "search_domains", "retry", "failover_order", "device_id", "list_keys", "dhcp_leases", "scout_ini",
        "rebalance",
    }  # fmt: skip


def test_dhcp_option_222_comes_before_scoutsrv(tmp_path: Any) -> None:
    # behaviour.md, "First contact from DHCP": a dhclient lease with option 222, then ScoutSrv.
    lease = tmp_path / "dhclient.leases"
    lease.write_text('lease {\n  option unknown-222 "10.0.0.5:9000 scout2.corp;ou=Sales";\n}\n')
    client = Client(probe="none", dhcp_leases=[str(lease)])
    assert client.seeds == [Server("10.0.0.5", 9000), Server("scout2.corp"), Server("scoutsrv")]
    assert (client.dhcp_ou, client.dhcp_lease) == ("Sales", lease)
    without = Client(probe="none", dhcp_leases=[str(tmp_path / "none")])
    assert without.seeds == [Server("scoutsrv")]
    assert (without.dhcp_ou, without.dhcp_lease) == (None, None)


def test_scout_ini_entries_win_and_a_bad_entry_names_its_place(tmp_path: Path) -> None:
    # behaviour.md, "Scout INI files".
    ini = tmp_path / "terminal.ini"
    ini.write_bytes(b"\xef\xbb\xbf[Scout]\r\nManagerLoadBalancer=127.0.0.1:7\r\nServerList=127.0.0.2, 127.0.0.3:9\r\n")
    client = Client(servers=["127.0.0.9"], probe="none", scout_ini=[str(ini)])
    assert client.seeds == [Server("127.0.0.2"), Server("127.0.0.3", 9)]
    assert client.candidates()[0] == Server("127.0.0.1", 7)
    ini.write_text("[Security]\nTlsVerifyOption=2\n")
    with pytest.raises(scoutlb.ConfigError) as e:
        Client(probe="none", scout_ini=[str(ini)])
    assert e.value.key == "scout_ini"
    assert f"{ini} line 2, section [Security], entry TlsVerifyOption" in str(e.value)
    with pytest.raises(scoutlb.ConfigTypeError):
        Client(probe="none", scout_ini=str(ini))  # type: ignore[arg-type]


def test_defaults_and_first_contact_host() -> None:
    client = Client(probe="none")
    assert client.seeds == [Server("scoutsrv", 22123)]
    assert client.server_list == []
    assert client.default_server is None
    assert 0.0 <= client.backoff(0) <= 1.0
    assert repr(client) == "<scoutlb.Client seeds=[scoutsrv:22123]>"


def test_any_sequence_of_servers() -> None:
    # The types name list and tuple (a str is a Sequence too); any other sequence works at run time.
    assert Client(servers=collections.UserList(["a:1"]), probe="none").seeds == [Server("a", 1)]  # type: ignore[arg-type]
    assert Client(servers=("a:1", "b:2"), probe="none").seeds == [Server("a", 1), Server("b", 2)]
    names: list[str] = ["a:1"]
    objects: list[Server] = [Server("b", 2)]
    assert Client(servers=names, probe="none").seeds == [Server("a", 1)]
    assert Client(servers=objects, probe="none").seeds == [Server("b", 2)]


@pytest.mark.parametrize("key", ["servers", "nameservers", "search_domains", "dhcp_leases", "scout_ini", "list_keys"])
def test_a_single_string_is_not_a_list(key: str) -> None:
    # "10.0.0.1" is a Sequence of ten one-letter strings; mypy refuses it (the type: ignore below
    # would be unused otherwise, an error under --strict), and so does the call.
    text: dict[str, Any] = {key: "10.0.0.1"}
    with pytest.raises(TypeError, match=rf"`{key}`: expected a list of strings, got a single str \(write {key}=\['10.0.0.1'\]\)") as info:
        Client(probe="none", **text)
    assert isinstance(info.value, scoutlb.ConfigTypeError) and isinstance(info.value, scoutlb.ConfigError)
    assert info.value.key == key
    data: dict[str, Any] = {key: b"10.0.0.1"}
    with pytest.raises(TypeError, match=f"`{key}`"):
        Client(probe="none", **data)
    with pytest.raises(TypeError, match="`servers`"):
        Client(servers="10.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`nameservers`"):
        Client(nameservers="127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        scoutlb.failover_order("10.0.0.1", ["a"])  # type: ignore[arg-type]


def test_probe_callback_is_the_callable_itself() -> None:
    # "callback" is the JSON spelling; as a keyword the callable is given instead, and the types say so.
    with pytest.raises(scoutlb.ConfigError, match="`probe`"):
        Client(servers=["a:1"], probe="callback")  # type: ignore[arg-type]
    assert Client(servers=["a:1"], probe=lambda server, timeout: True).connect().server == Server("a", 1)


def test_default_port_applies_to_servers() -> None:
    client = Client(servers=["a", "b:1"], default_port=9999, probe="none")
    assert client.seeds == [Server("a", 9999), Server("b", 1)]


def test_retry_dict_sets_backoff() -> None:
    client = Client(probe="none", retry={"base_ms": 100, "factor": 2.0, "cap_ms": 300})
    for n, ceiling in [(0, 0.1), (1, 0.2), (2, 0.3), (10, 0.3)]:
        for _ in range(20):
            assert 0.0 <= client.backoff(n) <= ceiling + 1e-9


def test_retry_dict_sets_the_handshake_profile() -> None:
    # behaviour.md, "All fail": the interval doubles after each try, ± 10 %, and stays at the last one.
    client = Client(probe="none", retry={"profile": "handshake", "timer_ms": 1000, "max_retries": 3, "permanent_after_days": 2})
    for n, interval in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 4.0), (50, 4.0)]:
        for _ in range(20):
            assert interval * 0.9 - 1e-9 <= client.backoff(n) <= interval * 1.1 + 1e-9
    with pytest.raises(scoutlb.ConfigError) as e:
        Client(probe="none", retry={"profile": "scout"})  # type: ignore[arg-type]
    assert e.value.key == "retry.profile"
    with pytest.raises(scoutlb.ConfigError) as e:
        Client(probe="none", retry={"max_retries": -1})
    assert e.value.key == "retry.max_retries"


def test_scout_handshake_entries_select_the_handshake_profile(tmp_path: Path) -> None:
    ini = tmp_path / "terminal.ini"
    ini.write_text("[ScoutHandshake]\nMaxRetries=2\nRetryTimer=10\n")
    client = Client(probe="none", scout_ini=[str(ini)], retry={"base_ms": 1, "cap_ms": 1})
    assert 18.0 <= client.backoff(1) <= 22.0
    ini.write_text("[ScoutHandshake]\nPermanentRetriesAfterDays=soon\n")
    with pytest.raises(scoutlb.ConfigError) as e:
        Client(probe="none", scout_ini=[str(ini)])
    assert f"{ini} line 2, section [ScoutHandshake], entry PermanentRetriesAfterDays: expected a whole number" in str(e.value)


def test_path_like_state_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    (tmp_path / "sub").mkdir()
    client = Client(servers=["a:1"], probe="none", state_file=path)
    client.report_success("a:1")
    assert json.loads(path.read_text())["default_server"] == {"host": "a", "port": 1}
    Client(servers=["a:1"], probe="none", state_file=os.fsencode(tmp_path / "bytes.json"))


def test_a_missing_state_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    with pytest.raises(scoutlb.StateFileError) as raised:
        Client(servers=["a:1"], probe="none", state_file=folder / "state.json")
    assert str(folder) in str(raised.value) and "does not exist" in str(raised.value)
    assert not (tmp_path / "no").exists()


def test_state_file_path_that_is_not_utf8(tmp_path: Path) -> None:
    # behaviour.md, Configuration keys: any path the OS takes, as bytes or os.PathLike.
    raw = os.fsencode(tmp_path) + b"/st\xffate.json"
    for path in (raw, Path(os.fsdecode(raw))):
        client = Client(servers=["a:1"], probe="none", state_file=path)
        client.report_success("a:1")
        assert json.loads(Path(os.fsdecode(raw)).read_bytes())["default_server"] == {"host": "a", "port": 1}
        os.unlink(raw)
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(probe="none", state_file=b"")
    assert info.value.key == "state_file"


def test_search_domain_that_is_an_ip_is_refused() -> None:
    with pytest.raises(scoutlb.ConfigError, match="IP address") as info:
        Client(probe="none", search_domains=["corp.example", "10.0.0.1"])
    assert info.value.key == "search_domains"


def test_from_json_text_and_bytes(tmp_path: Path) -> None:
    text = json.dumps({"servers": ["a:1", "b:2"], "probe": "none", "state_file": str(tmp_path / "s.json")})
    assert Client.from_json(text).seeds == [Server("a", 1), Server("b", 2)]
    assert Client.from_json(text.encode()).seeds == [Server("a", 1), Server("b", 2)]
    assert Client.from_json("{}").seeds == [Server("scoutsrv")]


BAD_KEYWORDS: list[tuple[dict[str, Any], str]] = [
    ({"bogus": 1}, "bogus"),
    ({"servers": "a:1"}, "servers"),
    ({"servers": [1]}, "servers"),
    ({"servers": ["a:0"]}, "servers"),
    ({"servers": ["a\udcff"]}, "servers"),
    ({"servers": [object()]}, "servers"),
    ({"default_port": 0}, "default_port"),
    ({"default_port": 70000}, "default_port"),
    ({"default_port": "22123"}, "default_port"),
    ({"default_port": True}, "default_port"),
    ({"default_port": 2**70}, "default_port"),
    ({"probe": "ftp"}, "probe"),
    ({"probe": 5}, "probe"),
    ({"probe": "callback"}, "probe"),
    ({"scheme": "gopher"}, "scheme"),
    ({"connect_timeout_ms": -1}, "connect_timeout_ms"),
    ({"connect_timeout_ms": 1.5}, "connect_timeout_ms"),
    ({"connect_timeout_ms": "1000"}, "connect_timeout_ms"),
    ({"connect_timeout_ms": 0}, "connect_timeout_ms"),
    ({"attempt_delay_ms": float("nan")}, "attempt_delay_ms"),
    ({"answer_delay_ms": -5}, "answer_delay_ms"),
    ({"answer_delay_ms": "1s"}, "answer_delay_ms"),
    ({"deadline_ms": 0}, "deadline_ms"),
    ({"deadline_ms": 10**12}, "deadline_ms"),
    ({"dns_timeout_ms": None, "nameservers": ["not-an-ip"]}, "nameservers"),
    ({"search_domains": ["bad domain"]}, "search_domains"),
    ({"retry": [1000]}, "retry"),
    ({"retry": {"bogus": 1}}, "retry.bogus"),
    ({"retry": {"factor": 0.5}}, "retry.factor"),
    ({"retry": {"factor": "2"}}, "retry.factor"),
    ({"retry": {"base_ms": 100, "cap_ms": 10}}, "retry.cap_ms"),
    ({"retry": {1: 2}}, "retry"),
    ({"failover_order": "random"}, "failover_order"),
    ({"failover_order": "spread"}, "device_id"),
    ({"device_id": 7}, "device_id"),
    ({"state_file": 5}, "state_file"),
    ({"state_file": ""}, "state_file"),
    ({"ca_file": {"a": 1}}, "ca_file"),
    ({"manager_load_balancer": 3}, "manager_load_balancer"),
    ({"events": 5}, "events"),
]


@pytest.mark.parametrize(("kwargs", "key"), BAD_KEYWORDS, ids=[k for _, k in BAD_KEYWORDS])
def test_bad_keyword_names_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(**kwargs)
    assert info.value.key == key
    assert f"`{key}`" in str(info.value)


def test_manager_load_balancer_entry_is_checked() -> None:
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(manager_load_balancer="srv:")
    assert "manager_load_balancer" in str(info.value) or "srv:" in str(info.value)


def test_ca_file_missing(tmp_path: Path) -> None:
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(scheme="https", ca_file=tmp_path / "missing.pem")
    assert info.value.key == "ca_file"


def test_tls_levels(tmp_path: Path) -> None:
    # behaviour.md, "TLS": an empty folder of roots is refused while https checks; "none" is
    # reported before every call; a bad level names the key.
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(scheme="https", ca_dir=tmp_path, servers=["127.0.0.1:1"])
    assert info.value.key == "ca_dir" and "holds no certificate" in str(info.value)
    with pytest.raises(scoutlb.ConfigError) as info:
        Client(tls_verify="strict")  # type: ignore[arg-type]
    assert info.value.key == "tls_verify"
    kinds: list[str] = []
    client = Client(
        scheme="https",
        tls_verify="none",
        ca_dir=tmp_path,
        servers=["127.0.0.1:1"],
        connect_timeout_ms=500,
        events=lambda e: kinds.append(e.kind),
    )
    for call in (client.connect, client.reconnect):
        with pytest.raises(scoutlb.AllServersFailedError):
            call()
    assert kinds.count("tls_unverified") == 2
    assert kinds[kinds.index("tls_unverified") + 1] == "attempt_started"
    # Scout's TlsVerifyOption=0 in the device's own file wins over the keyword.
    ini = tmp_path / "terminal.ini"
    ini.write_text("[Security]\nTlsVerifyOption=0\n")
    kinds.clear()
    client = Client(
        scheme="https",
        tls_verify="full",
        servers=["127.0.0.1:1"],
        scout_ini=[str(ini)],
        events=lambda e: kinds.append(e.kind),
    )
    with pytest.raises(scoutlb.AllServersFailedError):
        client.connect()
    assert kinds[0] == "tls_unverified"


BAD_JSON: list[tuple[Any, str | None]] = [
    ("not json", None),
    ("[]", None),
    ("", None),
    ('{"servers": 5}', "servers"),
    ('{"bogus": 1}', "bogus"),
    ('{"retry": {"max_tries": -1}}', "retry.max_tries"),
    ('{"probe": "callback"}', "probe"),
    (b"\xff\xfe{}", None),
    ('{"servers": ["a"], "servers": 5}', "servers"),
]


@pytest.mark.parametrize(("text", "key"), BAD_JSON)
def test_bad_json(text: str | bytes, key: str | None) -> None:
    with pytest.raises(scoutlb.ConfigError) as info:
        Client.from_json(text)
    assert info.value.key == key


def test_from_json_argument_types() -> None:
    with pytest.raises(TypeError):
        Client.from_json(5)  # type: ignore[arg-type]
    with pytest.raises(scoutlb.ConfigError) as info:
        Client.from_json("{}", probe="http")  # type: ignore[arg-type]
    assert info.value.key == "probe"
    with pytest.raises(scoutlb.ConfigError):
        Client.from_json("{}\udcff")


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        Client(["a:1"])  # type: ignore[call-arg]
