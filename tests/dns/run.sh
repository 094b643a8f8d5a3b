#!/usr/bin/env bash
# ManagerLoadBalancer suite (issue 4): DNS resolution against a real dnsmasq, start-up fallback,
# first contact through ScoutSrv, and HAProxy in front of two reference servers.
# Installs what it needs (Debian), builds in the shared target folder, exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    if [ "$(id -u)" = 0 ]; then apt-get install -y "${need[@]}"; else sudo apt-get install -y "${need[@]}"; fi
fi

cargo build -q -p scout-server
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
{
    cargo test -p scoutlb --lib -- dns:: &&
        cargo test -p scoutlb --test balancer_forms --test dns_resolution --test dns_startup --test balancer_haproxy
} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
skipped=$(grep -c '^SKIPPED:' "$log" || true)
echo "dns suite: exit ${status}, ${skipped} skipped"
exit "$status"
