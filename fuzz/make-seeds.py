#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from the project's test cases.

The JSON literals of the core tests (server lists, configurations, state files), the example
configuration, the failover vectors and the address forms of the server tests become one file
each; the targets that take structured input get the byte layout `arbitrary` reads. Run it again
after adding test cases; the files are committed.
"""
import hashlib
import json
import re
import struct
from pathlib import Path

root = Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"


def literals(path):
    """The raw string literals r#"..."# and br#"..."# of a Rust file (without format! templates)."""
    text = (root / path).read_text()
    return [m.group(1).encode() for m in re.finditer(r'b?r#"(.*?)"#', text, re.S) if "{{" not in m.group(1)]


def write(target, items):
    out = corpus / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for item in dict.fromkeys(items):  # keep order, drop duplicates
        (out / hashlib.sha1(item).hexdigest()).write_bytes(item)
    print(f"{target}: {len(list(out.iterdir()))} seeds")


vectors = json.loads((root / "tests/vectors/failover_order.json").read_text())["cases"]
lists = [l for l in literals("core/tests/server_list_rules.rs") + literals("core/tests/state_file.rs")
         if l.lstrip().startswith(b'{"servers"')]
lists += [json.dumps({"servers": [{"host": s.rsplit(":", 1)[0], "port": int(s.rsplit(":", 1)[1]), "id": f"srv-{i}"}
                                  for i, s in enumerate(c["list"])], "self": "srv-0", "generation": n}).encode()
          for n, c in enumerate(vectors) if c["list"]]
# Hostile ids and hosts: control characters and bidi controls (behaviour.md, "Surfaces").
lists += [json.dumps({"servers": [{"host": "a", "port": 1, "id": "x\u001b[2J\r\ndefault server: evil\u0007\u009b\u202e"}],
                      "self": "x\u001b[2J\r\ndefault server: evil\u0007\u009b\u202e"}).encode(),
          b'{"servers": [{"host": "a\\u001b]0;title\\u0007", "port": 1}]}']
seed_reach = json.loads((root / "tests/vectors/seed_reach.json").read_text())["cases"]
lists += [json.dumps({"servers": [{"host": s.rsplit(":", 1)[0], "port": int(s.rsplit(":", 1)[1])} for s in c["list"]]}).encode()
          for c in seed_reach if c["list"]]
write("server_list", lists)
write("client_update", [bytes([choice]) + l for l in lists for choice in (0x00, 0x12, 0x33)])

configs = [l for l in literals("core/tests/config_rules.rs") + literals("core/tests/state_file.rs")
           if l.lstrip().startswith(b"{") and b'"format"' not in l and not l.lstrip().startswith(b'{"servers": [{')]
configs.append((root / "examples/configs/plan.json").read_bytes())
configs += [json.dumps({"servers": c["seeds"], "probe": "none"}).encode() for c in vectors]
write("config", configs)

states = [l for l in literals("core/tests/state_file.rs") if b'"format"' in l]
for c in vectors:
    if c["list"] and c["default"]:
        def entry(s):
            host, port = s.rsplit(":", 1)
            return {"host": host, "port": int(port)}
        states.append(json.dumps({"format": 1, "default_server": entry(c["default"]),
                                  "servers": [entry(s) for s in c["list"]], "servers_from": entry(c["list"][0]),
                                  "updated_at": "2026-11-25T12:00:00.000Z"}, indent=2).encode() + b"\n")
states += [c["text"].encode() for c in json.loads((root / "tests/vectors/state_file.json").read_text())["cases"]]
write("state_file", states)

server_rs = (root / "proto/src/server.rs").read_text()
addresses = [a.encode() for a in re.findall(r'"([^"\n]*)"\.parse::<Server>\(\)', server_rs)]
addresses += [a.encode() for a in re.findall(r'^\s*"([^"\n]*)",$', server_rs, re.M)]
addresses += [s.encode() for c in vectors for s in c["seeds"] + (c["list"] or [])]
addresses += [b"srv:_scout._tcp.corp", b"lb.corp:8443", b"[fd00::5]:8443", b"10.0.0.5"]
write("server_address", [struct.pack("<H", 22123) + a for a in addresses])

srv_cases = [
    [(20, 1000, 1), (10, 0, 1), (30, 5, 1), (10, 0, 1)],
    [(1, 1, 1), (1, 3, 1)],
    [(1, 0, 1), (1, 50, 1), (1, 50, 1)],
    [(1, 0, 1), (1, 0, 1), (1, 0, 1)],
    [(1, 10, 1), (1, 20, 1), (1, 30, 1), (2, 1, 1), (2, 1, 1)],
]
write("srv_order", [struct.pack("<Q", seed) + b"".join(struct.pack("<HHH", *r) for r in case)
                    for seed, case in enumerate(srv_cases, start=5)])

# The signed-list target: mode byte (bit 0: 0 = a whole answer, 1 = a payload the harness signs;
# bits 4-7: the saved version), then the bytes: the answers and payloads of the signed-list vectors.
import base64
signed = json.loads((root / "tests/vectors/signed_list.json").read_text())
answers = [step["body"].encode() for c in signed["cases"] for step in c["steps"]]
answers += [v.encode() for k, v in signed["lying_servers"].items() if k != "about" and isinstance(v, str)]
payloads = []
for a in answers:
    try:
        payloads.append(base64.b64decode(json.loads(a)["signed"]["payload"]))
    except (ValueError, KeyError, TypeError):
        pass
write("signed_list", [bytes([mode]) + a for a in answers for mode in (0x00, 0x50)]
      + [bytes([mode]) + p for p in payloads for mode in (0x01, 0x51)])

# Scout INI files (behaviour.md, "Scout INI files"): each known section and its forms, the
# handshake retry entries among them.
write("scout_ini", [
    b"# x\n[X]\nName=\xff\njunk\n[Scout\nServerList=\n",
    b"[scout]\nserverlist = 10.0.0.1, 10.0.0.2 [fd00::1]:5\n[Scout]\nManagerLoadBalancer=\"srv:_scout._tcp.corp\"\n",
    b"[Security]\nTlsVerifyOption=2\n[ScoutHandshake]\nMaxRetries=8\nRetryTimer=5\n",
    b"\xef\xbb\xbf; terminal.ini\r\n[Scout]\r\nManagerLoadBalancer=lb.corp:22125\r\n[Security]\r\nTlsVerifyOption=3\r\n",
    b"[ScoutHandshake]\r\nMaxRetries=8\r\nRetryTimer=5\r\nPermanentRetriesAfterDays=3\r\n",
    b"[scouthandshake]\nmaxretries = \"0\"\nRetryTimer=86401\nPermanentRetriesAfterDays=-1\n",
])

# The C harness: buffer-size byte, port byte, then configuration NUL body NUL server name.
c_inputs = []
for i, (config, body, name) in enumerate(zip(configs, lists * 2, addresses)):
    c_inputs.append(bytes([(i * 37) & 0xFF, i & 0xFF]) + config + b"\0" + body + b"\0" + name)
write("c_abi", c_inputs)

# The DNS answer target: a flag byte (bit 0: the query's id is the message's own; else 0x5151),
# then a response to the SRV query of a.example.: sound, NXDOMAIN, truncated, another id, and one
# whose additional section holds a pointer past its end (as dnsmasq's large TCP answers do).
def dns_name(n):
    return b"".join(bytes([len(label)]) + label.encode() for label in n.split(".") if label) + b"\x00"


def dns_response(msg_id, flags, answers, extra=b"", additionals=0):
    question = dns_name("a.example.") + struct.pack(">HH", 33, 1)
    records = b""
    for priority, weight, port, target in answers:
        rdata = struct.pack(">HHH", priority, weight, port) + dns_name(target)
        records += b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rdata)) + rdata
    header = struct.pack(">HHHHHH", msg_id, flags, 1, len(answers), 0, additionals)
    return header + question + records + extra


write("dns_answer", [
    b"\x00" + dns_response(0x5151, 0x8180, [(10, 60, 22123, "s1.example."), (20, 0, 22124, "s2.example.")]),
    b"\x00" + dns_response(0x5151, 0x8183, []),
    b"\x00" + dns_response(0x5151, 0x8380, []),
    b"\x00" + dns_response(0x1234, 0x8180, [(1, 1, 1, "x.example.")]),
    b"\x01" + dns_response(0x0707, 0x8180, [(1, 1, 1, "x.example.")], extra=b"\xc0\xff\xff", additionals=1),
])
