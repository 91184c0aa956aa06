#!/usr/bin/env bash
# Installs what Rafka's tests and scripts/start.sh need from outside Cargo, each only when it is
# missing (idempotent: a no-op on a machine that has everything).
#
#   scripts/install-deps.sh            # everything
#   scripts/install-deps.sh zookeeper  # only the named dependencies (see DEPS below)
#
# Debian/Ubuntu only (apt-get). Runs as root, or through sudo when available.
# One install_<dep> function per dependency; add new ones to DEPS in the order they must be
# installed. The client libraries of the integration tests are pinned in the repository:
#   python_clients: tests/clients/python/requirements.txt -> venv in target/client-venv
#                   (RAFKA_CLIENT_VENV overrides the path; the tests read the same variable)
#   node_clients:   tests/clients/node/package-lock.json  -> tests/clients/node/node_modules
#   rdkafka_build:  what the `rdkafka` crate needs to build its bundled librdkafka (C toolchain,
#                   make, perl, zlib headers)
set -euo pipefail

DEPS=(java zookeeper kcat rdkafka_build python_clients node_clients)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command as root: directly, or through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
# Installs Debian packages, running `apt-get update` once per invocation of this script.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- java: a JRE to run ZooKeeper ------------------------------------------------------------
have_java() {
  local java=java
  [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && java="$JAVA_HOME/bin/java"
  "$java" -version >/dev/null 2>&1
}
install_java() {
  if have_java; then log "java: present"; return; fi
  apt_install default-jre-headless
  have_java || die "java still missing after installing default-jre-headless"
}

# --- zookeeper: Debian's ZooKeeper 3.8 server (tests' EmbeddedZookeeper, scripts/start.sh) ---
# The jar the harness runs, the slf4j binding it logs through, and the zkCli.sh/zkServer.sh tools.
have_zookeeper() {
  [ -f /usr/share/java/zookeeper.jar ] \
    && [ -f /usr/share/java/slf4j-simple.jar ] \
    && [ -x /usr/share/zookeeper/bin/zkCli.sh ]
}
install_zookeeper() {
  if have_zookeeper; then log "zookeeper: present"; return; fi
  apt_install zookeeper libslf4j-java
  have_zookeeper || die "zookeeper still missing after apt-get install zookeeper"
}

# --- kcat: Debian's kcat (librdkafka 2.0.2), the real client of tests/tests/metadata_kcat.rs --
have_kcat() {
  [ -x /usr/bin/kcat ]
}
install_kcat() {
  if have_kcat; then log "kcat: present"; return; fi
  apt_install kcat
  have_kcat || die "kcat still missing after apt-get install kcat"
}

# --- rdkafka_build: the C side of the `rdkafka` crate (tests, `rafka perf`) -----------------
# rdkafka-sys builds its bundled librdkafka with ./configure and make (no cmake); libz-sys links
# the system zlib; zstd-sys compiles its own zstd.
have_rdkafka_build() {
  command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1 \
    && command -v make >/dev/null 2>&1 && command -v perl >/dev/null 2>&1 \
    && command -v pkg-config >/dev/null 2>&1 && [ -f /usr/include/zlib.h ]
}
install_rdkafka_build() {
  if have_rdkafka_build; then log "rdkafka_build: present"; return; fi
  apt_install gcc g++ make perl pkg-config zlib1g-dev
  have_rdkafka_build || die "a C toolchain, make, perl, pkg-config or zlib.h is still missing"
}

# --- python_clients: confluent-kafka and kafka-python, pinned, in a venv ----------------------
PY_REQUIREMENTS="$ROOT/tests/clients/python/requirements.txt"
CLIENT_VENV="${RAFKA_CLIENT_VENV:-$ROOT/target/client-venv}"
# The venv is current when it holds a copy of the requirements it was made from.
have_python_clients() {
  [ -x "$CLIENT_VENV/bin/python" ] \
    && cmp -s "$PY_REQUIREMENTS" "$CLIENT_VENV/rafka-requirements.txt" \
    && "$CLIENT_VENV/bin/python" -c 'import confluent_kafka, kafka' >/dev/null 2>&1
}
install_python_clients() {
  if have_python_clients; then log "python_clients: present ($CLIENT_VENV)"; return; fi
  local py
  py="$(command -v python3 || true)"
  if [ -z "$py" ]; then
    apt_install python3 python3-venv python3-pip
    py="$(command -v python3)" || die "python3 still missing"
  fi
  if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  log "creating $CLIENT_VENV from $PY_REQUIREMENTS"
  rm -rf "$CLIENT_VENV"
  "$py" -m venv "$CLIENT_VENV"
  "$CLIENT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$PY_REQUIREMENTS"
  cp "$PY_REQUIREMENTS" "$CLIENT_VENV/rafka-requirements.txt"
  have_python_clients || die "the Python clients do not import after pip install"
}

# --- node_clients: kafkajs, pinned by package-lock.json, installed with npm ci ----------------
NODE_DIR="$ROOT/tests/clients/node"
# node_modules is current when it holds a copy of the lock file it was installed from.
have_node_clients() {
  command -v node >/dev/null 2>&1 \
    && cmp -s "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.rafka-package-lock.json" \
    && [ -f "$NODE_DIR/node_modules/kafkajs/package.json" ]
}
install_node_clients() {
  if have_node_clients; then log "node_clients: present ($NODE_DIR/node_modules)"; return; fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  log "npm ci in $NODE_DIR"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$NODE_DIR/package-lock.json" "$NODE_DIR/node_modules/.rafka-package-lock.json"
  have_node_clients || die "kafkajs still missing after npm ci"
}

main() {
  local deps=("$@")
  [ ${#deps[@]} -gt 0 ] || deps=("${DEPS[@]}")
  local dep
  for dep in "${deps[@]}"; do
    declare -F "install_$dep" >/dev/null || die "unknown dependency '$dep' (known: ${DEPS[*]})"
    "install_$dep"
  done
}

main "$@"
