# Sourced by scripts/run and scripts/demo: start_server ARGS... starts
# `officepulse ARGS...` (a server) in the background, its output on this terminal, and
# waits until it listens: then $server is its pid and $url its address (http://...).
# It waits for the server's own "listening on" line, not for the port to answer: another
# program on the port must not be taken for it.
start_server() {
  server_log=$(mktemp)
  .venv/bin/officepulse "$@" > >(tee "$server_log") 2>&1 &
  server=$!
  url=""
  for _ in $(seq 300); do
    url=$(sed -n 's/^officepulse server listening on //p' "$server_log")
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
    sleep 0.1
  done
  rm -f "$server_log"
  [ -n "$url" ] || { echo "the server did not start within 30 s" >&2; exit 1; }
}
