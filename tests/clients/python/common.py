"""Helpers shared by the client scripts: fail loudly, wait with a deadline, deterministic data.

Every script is run by a Rust test (tests/tests/clients_*.rs) with the bootstrap address and
topic names as arguments. A script checks what it sees itself and exits with status 1 and a
`FAIL: ...` line on stderr at the first mismatch; status 0 means every check passed.
"""

import sys
import time


def log(msg):
    print(msg, flush=True)


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def check_eq(got, want, what):
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def wait_for(what, fn, timeout=30.0, interval=0.2):
    """Calls fn() until it returns something other than None/False, for at most `timeout`
    seconds; returns that value, or fails naming `what` and the last value/exception."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value is not None and value is not False:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 - reported below
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def payload(i, size):
    """`size` bytes for record i: every byte value occurs, so a codec or a length that mangles
    binary data shows; runs of repeated bytes make the codecs actually compress."""
    head = bytes((i * 7 + k) % 256 for k in range(min(size, 256)))
    return (head + bytes([i % 256]) * size)[:size]


def record_size(i):
    """Varied value sizes for record i: empty, small and a few KiB."""
    return (i * 37) % 3000


def args(n, usage):
    """The first n command-line arguments, or exit 2 with the usage line."""
    if len(sys.argv) != n + 1:
        print(f"usage: {sys.argv[0]} {usage}", file=sys.stderr)
        sys.exit(2)
    return sys.argv[1:]
