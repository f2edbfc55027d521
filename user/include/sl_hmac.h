// sl_hmac.h — SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), header only, for the
// RESULT tags of the grader's test programs.
//
// The grader compiles its programs with a secret key made fresh for each grading run
// (grader/building.py writes it into a header given with -include; it is never on a
// command line or the serial port).  stacklabs.h's sl_result then tags each RESULT
// line with HMAC-SHA-256(key, "<nonce>|<payload>") in 64 hex digits; without a key
// (`make progs`, a student's own build) it keeps the public FNV-1a tag, which the
// grader does not accept.  The kit's grader self-test checks this code against the
// test vectors of RFC 4231 and against Python's hmac.
#ifndef SL_HMAC_H
#define SL_HMAC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SL_SHA256_BLOCK 64
#define SL_SHA256_LEN 32

struct sl_sha256 {
	uint32_t h[8];
	uint64_t len;                   // bytes hashed so far
	unsigned char buf[SL_SHA256_BLOCK];
	size_t nbuf;
};

// The round constants: the first 32 bits of the fractional parts of the cube roots
// of the first 64 primes (FIPS 180-4, 4.2.2).
static const uint32_t sl_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t
sl_ror32(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

// One 64-byte block into the state (FIPS 180-4, 6.2.2).
static inline void
sl_sha256_block(struct sl_sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = sl_ror32(w[i - 15], 7) ^ sl_ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = sl_ror32(w[i - 2], 17) ^ sl_ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (sl_ror32(e, 6) ^ sl_ror32(e, 11) ^ sl_ror32(e, 25)) +
			      ((e & f) ^ (~e & g)) + sl_sha256_k[i] + w[i];
		uint32_t t2 = (sl_ror32(a, 2) ^ sl_ror32(a, 13) ^ sl_ror32(a, 22)) +
			      ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static inline void
sl_sha256_init(struct sl_sha256 *s)
{
	static const uint32_t h0[8] = {     // FIPS 180-4, 5.3.3
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, h0, sizeof h0);
	s->len = 0;
	s->nbuf = 0;
}

static inline void
sl_sha256_update(struct sl_sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->len += len;
	while (len > 0) {
		size_t n = SL_SHA256_BLOCK - s->nbuf;
		if (n > len)
			n = len;
		memcpy(s->buf + s->nbuf, p, n);
		s->nbuf += n, p += n, len -= n;
		if (s->nbuf == SL_SHA256_BLOCK) {
			sl_sha256_block(s, s->buf);
			s->nbuf = 0;
		}
	}
}

// Pad (a 1 bit, zeros, the length in bits, big-endian) and write the 32-byte digest.
static inline void
sl_sha256_final(struct sl_sha256 *s, unsigned char out[SL_SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, zero = 0, be[8];

	sl_sha256_update(s, &pad, 1);
	while (s->nbuf != SL_SHA256_BLOCK - 8)
		sl_sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(bits >> (56 - 8 * i));
	sl_sha256_update(s, be, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
}

// HMAC-SHA-256 (RFC 2104) of the concatenation of n parts (parts[i], lens[i]) under
// key (any length: a key longer than a block is hashed first).
static inline void
sl_hmac_sha256(const void *key, size_t keylen, size_t n, const void *const *parts,
	       const size_t *lens, unsigned char out[SL_SHA256_LEN])
{
	unsigned char k[SL_SHA256_BLOCK] = {0}, pad[SL_SHA256_BLOCK], inner[SL_SHA256_LEN];
	struct sl_sha256 s;

	if (keylen > SL_SHA256_BLOCK) {
		sl_sha256_init(&s);
		sl_sha256_update(&s, key, keylen);
		sl_sha256_final(&s, k);
	} else {
		memcpy(k, key, keylen);
	}
	for (int i = 0; i < SL_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sl_sha256_init(&s);
	sl_sha256_update(&s, pad, sizeof pad);
	for (size_t i = 0; i < n; i++)
		sl_sha256_update(&s, parts[i], lens[i]);
	sl_sha256_final(&s, inner);
	for (int i = 0; i < SL_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sl_sha256_init(&s);
	sl_sha256_update(&s, pad, sizeof pad);
	sl_sha256_update(&s, inner, sizeof inner);
	sl_sha256_final(&s, out);
}

#endif
