"""tags — nonces and the tags that bind a test program's RESULT line to its nonce.

Every program a test runs gets a fresh nonce on its command line.  A program proves
it ran by printing "RESULT <payload> tag=<fnv1a64 of nonce|payload, 16 hex>"
(user/include/stacklabs.h's sl_result); a RESULT line whose tag matches none of the
nonces handed out does not count.

Python 3 standard library only; nothing happens on import.
"""

import secrets

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


def tag(nonce, payload):
    """The tag a test program prints after payload: fnv1a64("<nonce>|<payload>")."""
    return "%016x" % fnv1a64("%s|%s" % (nonce, payload))


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
