#!/usr/bin/env bash
# THE test command: installs missing system dependencies, then formatting, lints, build and every
# test of the workspace. Prints a summary; exits non-zero if any step failed.
#
#   scripts/test.sh                       # everything
#   scripts/test.sh -E 'test(harness)'    # extra arguments go to the test runner
#
# Environment: SKIP_INSTALL_DEPS=1 skips scripts/install-deps.sh; SKIP_FUZZ=1 skips the bounded
# fuzz run (scripts/fuzz.sh, RAFKA_FUZZ_SECONDS long, default 60);
# RAFKA_TEST_TIMEOUT (seconds, default 3600) bounds the `cargo test` fallback as a whole
# (nextest bounds each test itself, see .config/nextest.toml).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# Incremental state doubles target/ on a one-shot build (a clean CI build ran out of disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

SUMMARY=()
FAILED=0

# step NAME COMMAND...: runs a step, records PASS/FAIL and its duration.
step() {
  local name=$1
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("PASS  $name (${took}s)")
  else
    SUMMARY+=("FAIL  $name (exit $rc, ${took}s)")
    FAILED=1
  fi
  return "$rc"
}

skip() {
  printf '\n==> %s: skipped (%s)\n' "$1" "$2"
  SUMMARY+=("SKIP  $1 ($2)")
}

# disk_report WHEN: free space and target/ size, so a disk-full CI run says where it stood.
disk_report() {
  printf '\n==> disk %s: %s free; target/ %s\n' "$1" \
    "$(df -h --output=avail . 2>/dev/null | tail -1 | tr -d ' ')" \
    "$(du -sh target 2>/dev/null | cut -f1)"
}

summary() {
  disk_report "at the end"
  printf '\n==================== scripts/test.sh summary ====================\n'
  printf '%s\n' "${SUMMARY[@]}"
  if [ "$FAILED" -eq 0 ]; then
    printf 'RESULT: all steps passed\n'
  else
    printf 'RESULT: FAILED\n'
  fi
}

# Doc tests only exist in library crates' doc comments; nextest does not run them.
has_doc_tests() {
  grep -rqE '^[[:space:]]*(///|//!).*```' --include='*.rs' rafka_core/src tests/src 2>/dev/null
}

if [ "${SKIP_INSTALL_DEPS:-0}" = 1 ]; then
  skip "install deps" "SKIP_INSTALL_DEPS=1"
else
  step "install deps" scripts/install-deps.sh
fi

disk_report "before the build"
step "fmt" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets -- -D warnings

if step "build" cargo build --workspace --all-targets; then
  disk_report "after the build"
  if cargo nextest --version >/dev/null 2>&1; then
    step "tests (nextest)" cargo nextest run --workspace --no-fail-fast "$@"
  else
    echo "cargo-nextest not found: falling back to cargo test (no per-test timeout)" >&2
    step "tests (cargo test)" timeout --kill-after=30s "${RAFKA_TEST_TIMEOUT:-3600}" \
      cargo test --workspace --no-fail-fast "$@"
  fi
  if has_doc_tests; then
    step "doc tests" timeout --kill-after=30s 600 cargo test --workspace --doc
  else
    skip "doc tests" "none in rafka_core/src or tests/src"
  fi
  if [ "${SKIP_FUZZ:-0}" = 1 ]; then
    skip "fuzz" "SKIP_FUZZ=1"
  else
    step "fuzz" scripts/fuzz.sh "${RAFKA_FUZZ_SECONDS:-60}"
  fi
else
  skip "tests" "build failed"
fi

summary
exit "$FAILED"
