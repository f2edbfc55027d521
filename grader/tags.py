"""tags — nonces, the grading run's key, and the tags that bind a test program's
RESULT line to its nonce.

Every program a test runs gets a fresh nonce on its command line.  A program proves
it ran by printing "RESULT <payload> tag=<tag>" (user/include/stacklabs.h's
sl_result).  The grader builds its programs with a secret key made fresh for each
grading run (building.build_stage calls set_key; the key reaches the programs in a
header file, never on a command line or the serial port), and then accepts only
tag = HMAC-SHA-256(key, "<nonce>|<payload>"), 64 hex digits, for a nonce it handed
out.  Without a key (tests of this module alone) the tag is the public FNV-1a 64.

What remains possible: the key is in every test program the kernel loads (stripped,
but there), so a kernel could in principle search a loaded program for it and forge
tags; with the pristine overlay a student can try that only from the lab's own files
(labs/phaseN/), in code that an instructor reads.

Python 3 standard library only; nothing happens on import.
"""

import hashlib
import hmac
import os
import secrets

# The key of this grading run (bytes), or None before build_stage made one.
_key = None

# Bytes in a key.
KEY_LEN = 32

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data):
    """FNV-1a 64 of bytes (or of a str's UTF-8 bytes)."""
    if isinstance(data, str):
        data = data.encode()
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def new_key():
    """A fresh key for one grading run.  STACKLABS_TEST_KEY (hex) fixes it: for the
    self-test's fake kernel, which has to compute tags the way the programs do."""
    fixed = os.environ.get("STACKLABS_TEST_KEY")
    return bytes.fromhex(fixed) if fixed else secrets.token_bytes(KEY_LEN)


def set_key(key):
    """Make key the one every tag is checked with from now on."""
    global _key
    _key = key


def key_header(key):
    """The C header that hands key to stacklabs.h's sl_result (via -include)."""
    return ("// This grading run's RESULT key: secret, made fresh for each run.\n"
            "#define SL_KEY_LEN %d\n"
            "static const unsigned char sl_key[SL_KEY_LEN] = {%s};\n"
            % (len(key), ", ".join("0x%02x" % b for b in key)))


def hmac_tag(key, nonce, payload):
    """HMAC-SHA-256(key, "<nonce>|<payload>") in hex."""
    return hmac.new(key, ("%s|%s" % (nonce, payload)).encode(), hashlib.sha256).hexdigest()


def tag(nonce, payload):
    """The tag a test program built by this grading run prints after payload."""
    if _key is not None:
        return hmac_tag(_key, nonce, payload)
    return "%016x" % fnv1a64("%s|%s" % (nonce, payload))


def tag_ok(nonce, payload, t):
    """Whether t is payload's tag for nonce (compared in constant time)."""
    return hmac.compare_digest(tag(nonce, payload), t.lower())


def new_nonce():
    """16 fresh hex characters."""
    return secrets.token_hex(8)


def xorshift_bytes(nonce, n):
    """The first n bytes of stacklabs.h's sl_rng seeded with nonce (a secret the
    grader can recompute)."""
    s = fnv1a64(nonce) | 1
    out = bytearray()
    mask = 0xFFFFFFFFFFFFFFFF
    while len(out) < n:
        s ^= s >> 12
        s = (s ^ (s << 25)) & mask
        s ^= s >> 27
        out += ((s * 0x2545F4914F6CDD1D) & mask).to_bytes(8, "little")
    return bytes(out[:n])
