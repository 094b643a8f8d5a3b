"""The Python side of the soak bench (tests/soak/run.sh): as tests/soak/soak.rs, through the wheel.

    python soak.py CONFIG_JSON_FILE WARMUP_S RUN_S COOLDOWN_S
"""
import os
import sys
import time

import scoutlb


def usage() -> tuple[int, int, int]:
    """Resident memory in KiB, threads and open descriptors of this process."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return int(fields["VmRSS"][0]), int(fields["Threads"][0]), len(os.listdir("/proc/self/fd")) - 1


def main() -> None:
    config, warmup, run, cooldown = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    with open(config) as f:
        client = scoutlb.Client.from_json(f.read())
    counts = {"cycles": 0, "ok": 0, "failed": 0, "attempts_failed": 0}

    def cycle() -> None:
        try:
            connected = client.connect() if counts["cycles"] == 0 else client.reconnect()
            counts["ok"] += 1
            counts["attempts_failed"] += len(connected.failed)
        except scoutlb.Error:
            counts["failed"] += 1
        client.connection_lost()
        counts["cycles"] += 1
        time.sleep(0.05)

    start = time.monotonic()
    while time.monotonic() - start < warmup:
        cycle()
    rss, threads, fds = usage()
    print(f"baseline rss_kb={rss} threads={threads} fds={fds}", flush=True)
    start = time.monotonic()
    while time.monotonic() - start < run:
        cycle()
    time.sleep(cooldown)
    rss, threads, fds = usage()
    print(f"end rss_kb={rss} threads={threads} fds={fds} " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


if __name__ == "__main__":
    main()
