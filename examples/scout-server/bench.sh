#!/usr/bin/env bash
# Throughput of scout-server's GET /scout/v1/servers next to nginx serving the same JSON body as a
# static file, both on 127.0.0.1, measured with wrk: with keep-alive and with a new connection per
# request. Prints the median requests/s of repeated runs and the ratio scout-server/nginx.
#
# usage: examples/scout-server/bench.sh [--bin PATH] [--runs N] [--seconds S] [--tls]
#   --bin PATH   the scout-server binary to measure [default: builds target/release/scout-server]
#   --runs N     runs per target and mode; the median is printed [default: 3]
#   --seconds S  length of one wrk run [default: 5]
#   --tls        serve both over HTTPS (a throw-away self-signed certificate made with openssl)
# Needs wrk, nginx (Debian: nginx-light), curl, openssl and python3 (for a free port).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="" runs=3 seconds=5 tls=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --tls) tls=1; shift ;;
        -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in wrk nginx curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing (Debian: apt-get install wrk nginx-light curl openssl python3)" >&2; exit 1; }
done
if [ -z "$bin" ]; then
    cargo build --quiet --release -p scout-server --manifest-path "$root/Cargo.toml"
    bin="$root/target/release/scout-server"
fi

tmp="$(mktemp -d /tmp/scout-bench.XXXXXX)"
chmod 755 "$tmp" # nginx's workers (www-data when started as root) read the static file
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until a command succeeds.
wait_for() {
    local what="$1"; shift
    for _ in $(seq 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench.sh: timed out waiting for $what" >&2
    exit 1
}

scheme=http curl_ca=()
tls_flags=()
if [ "$tls" = 1 ]; then
    scheme=https
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
    tls_flags=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
    curl_ca=(--cacert "$tmp/cert.pem")
fi

# scout-server on a free port; its ready line on stdout names the address.
"$bin" --db "$tmp/scout.sqlite" --listen 127.0.0.1:0 --id bench "${tls_flags[@]}" \
    >"$tmp/ready" 2>"$tmp/scout-server.log" &
pids+=($!)
wait_for "scout-server's ready line" grep -q "listening on" "$tmp/ready"
scout_url="$(sed -n 's/.* listening on //p' "$tmp/ready")/scout/v1/servers"

# nginx with a private configuration, serving the body scout-server serves as a static file.
mkdir -p "$tmp/www/scout/v1" "$tmp/nginx"
curl -sSf "${curl_ca[@]}" "$scout_url" -o "$tmp/www/scout/v1/servers"
nginx_port="$(free_port)"
listen="127.0.0.1:$nginx_port"
ssl_lines=""
if [ "$tls" = 1 ]; then
    listen="$listen ssl"
    ssl_lines="ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;"
fi
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen $listen;
        $ssl_lines
        root $tmp/www;
        location = /scout/v1/servers { default_type application/json; }
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' &
pids+=($!)
nginx_url="$scheme://127.0.0.1:$nginx_port/scout/v1/servers"
wait_for "nginx" curl -sSf "${curl_ca[@]}" "$nginx_url"
cmp -s <(curl -sS "${curl_ca[@]}" "$nginx_url") <(curl -sS "${curl_ca[@]}" "$scout_url") \
    || { echo "bench.sh: nginx and scout-server serve different bodies" >&2; exit 1; }

# One wrk run; prints requests/s, and warns on stderr about failed connects, timeouts and
# non-2xx answers. (With "Connection: close", wrk counts some of the server's closes as read
# errors; those are no failure.)
measure() {
    local url="$1"; shift
    local out
    out="$(wrk -t2 -c64 -d"${seconds}s" "$@" "$url")"
    if grep -q -E "Non-2xx|connect [1-9]|timeout [1-9]" <<<"$out"; then
        echo "bench.sh: warning: $url: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | paste -sd';')" >&2
    fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "scout-server: $bin ($scheme, SQLite, 1 server); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') static file"
echo "wrk -t2 -c64 -d${seconds}s, $runs runs each, medians in requests/s; $(nproc) cores"
printf '%-26s %14s %14s %8s\n' "mode" "scout-server" "nginx" "ratio"
for mode in keep-alive close; do
    extra=()
    [ "$mode" = close ] && extra=(-H "Connection: close")
    : >"$tmp/scout.txt"
    : >"$tmp/nginx.txt"
    for _ in $(seq "$runs"); do
        # Interleaved, so that a noisy neighbour hits both alike.
        measure "$scout_url" "${extra[@]}" >>"$tmp/scout.txt"
        measure "$nginx_url" "${extra[@]}" >>"$tmp/nginx.txt"
    done
    scout="$(median <"$tmp/scout.txt")"
    nginx="$(median <"$tmp/nginx.txt")"
    label="$mode"
    [ "$mode" = close ] && label="new connection per request"
    printf '%-26s %14.0f %14.0f %8.2f\n' "$label" "$scout" "$nginx" "$(awk -v a="$scout" -v b="$nginx" 'BEGIN { print a / b }')"
done
