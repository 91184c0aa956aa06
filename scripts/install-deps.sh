#!/usr/bin/env bash
# Installs what Rafka's tests and scripts/start.sh need from outside Cargo, each only when it is
# missing (idempotent: a no-op on a machine that has everything).
#
#   scripts/install-deps.sh            # everything
#   scripts/install-deps.sh zookeeper  # only the named dependencies (see DEPS below)
#
# Debian/Ubuntu only (apt-get). Runs as root, or through sudo when available.
# One install_<dep> function per dependency; add new ones (kcat, Python and Node clients, ...)
# to DEPS in the order they must be installed.
set -euo pipefail

DEPS=(java zookeeper kcat)

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
