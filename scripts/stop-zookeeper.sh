#!/usr/bin/env bash
# Stops the background ZooKeeper that scripts/start.sh started (pid in .rafka-data/zookeeper.pid).
# Its data (.rafka-data/zookeeper) is kept; delete .rafka-data/ to start from scratch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pidfile=.rafka-data/zookeeper.pid
if [ ! -f "$pidfile" ]; then
  echo "no $pidfile: scripts/start.sh did not start a ZooKeeper" >&2
  exit 0
fi
pid="$(cat "$pidfile")"
# Only signal the process if it is still our ZooKeeper (the pid may have been reused).
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q QuorumPeerMain; then
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
  fi
  echo "stopped ZooKeeper (pid $pid)"
else
  echo "ZooKeeper (pid $pid) is not running"
fi
rm -f "$pidfile"
