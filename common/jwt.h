/*
 * jwt.h - HS256 JSON Web Tokens, verified with OpenSSL HMAC and a strict
 * base64url decoder.  Nothing but HS256 is accepted: "none", HS384/HS512,
 * RS256 and anything else are refused, whatever the token header says.
 */
#ifndef GD_JWT_H
#define GD_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN 4096 /* longer tokens are refused as malformed */
#define JWT_MIN_KEY   32   /* shorter secrets are refused at start-up */
#define JWT_MAX_KEY   512
#define JWT_MAX_SUB   64
#define JWT_MAX_KEYS  8  /* verification keys in force at once (rotation) */
#define JWT_MAX_KID   64 /* a key id is 1..64 of [A-Za-z0-9_.-] */

/*
 * One verification secret.  kid "" is the unnamed key of a single-secret
 * configuration (JWT_SECRET, JWT_SECRET_FILE): it verifies every token,
 * whatever kid the token names, as before key ids existed.
 */
struct jwt_key {
    char kid[JWT_MAX_KID + 1];
    unsigned char secret[JWT_MAX_KEY];
    size_t len;
};

/* The keys in force; keys[0] is the primary (tokens without a kid). */
struct jwt_keyset {
    struct jwt_key keys[JWT_MAX_KEYS];
    int n;
};

/* Verification settings; plain data, no ownership.  iss/aud empty = not checked. */
struct jwt_verifier {
    struct jwt_keyset ks; /* ks.n 0: refused, verifies nothing */
    char iss[128];
    char aud[128];
    int leeway_s; /* tolerance for exp/nbf/iat, seconds */
};

/*
 * Parse a key list: entries "kid:secret" separated by commas and/or line
 * ends; blanks (space, tab, CR) around an entry are dropped, and so are
 * empty entries and lines starting with '#'.  The first entry is the
 * primary.  The secret is everything after the first ':' (32..512 bytes, no
 * comma or line end).  Refused (GD_ECONFIG, the reason in why, never a
 * secret): no entry, more than JWT_MAX_KEYS, an entry without ':', a kid
 * outside 1..64 of [A-Za-z0-9_.-], a kid twice, a short or long secret.
 * out is zeroed first (and left empty on a refusal).  why may be NULL.
 */
int jwt_keyset_parse(const char *text, struct jwt_keyset *out, char *why, size_t why_len);

/* One unnamed key (a single-secret configuration).  GD_ECONFIG for a secret
 * outside JWT_MIN_KEY..JWT_MAX_KEY (out left empty). */
int jwt_keyset_single(struct jwt_keyset *out, const void *secret, size_t len);

/* Wipe the secrets of ks (OPENSSL_cleanse) and empty it. */
void jwt_keyset_clear(struct jwt_keyset *ks);

/* Claims giftdrop uses.  sub is 1..64 chars of [A-Za-z0-9_.-]. nbf/iat are 0 when absent. */
struct jwt_claims {
    char sub[JWT_MAX_SUB + 1];
    int64_t exp;
    int64_t nbf;
    int64_t iat;
};

/*
 * Fill v with one unnamed key (jwt_keyset_single).  Refuses (GD_ECONFIG) a
 * key shorter than JWT_MIN_KEY or longer than JWT_MAX_KEY, and iss/aud
 * longer than their buffers.  iss/aud may be NULL.  Also refuses a negative
 * leeway.  v is zeroed first, so a refused verifier (no key) makes
 * jwt_verify fail closed with GD_EINVAL; GD_EINVAL for v NULL.
 */
int jwt_verifier_init(struct jwt_verifier *v, const void *key, size_t key_len, const char *iss,
                      const char *aud, int leeway_s);
/* The same with a key set (copied).  Refused as jwt_verifier_set_keys refuses. */
int jwt_verifier_init_keys(struct jwt_verifier *v, const struct jwt_keyset *ks, const char *iss,
                           const char *aud, int leeway_s);
/*
 * Put ks (copied) in force in place of v's keys: a key rotation.  Refuses
 * (GD_ECONFIG, v unchanged) a set of 0 or more than JWT_MAX_KEYS keys, a
 * secret outside JWT_MIN_KEY..JWT_MAX_KEY, a kid that is not 1..64 of
 * [A-Za-z0-9_.-] (or "" as the only key), a kid twice.  The old secrets are
 * wiped.  GD_EINVAL for NULL arguments.
 */
int jwt_verifier_set_keys(struct jwt_verifier *v, const struct jwt_keyset *ks);

/*
 * Verify token[0..len) at time now (unix seconds).  Returns 0 and fills out,
 * or GD_EAUTH_MALFORMED (shape, base64url, JSON, length), GD_EAUTH_ALG (alg
 * not HS256, typ not JWT when present), GD_EAUTH_SIGNATURE, GD_EAUTH_EXPIRED,
 * GD_EAUTH_NOT_YET (nbf or iat in the future beyond leeway), GD_EAUTH_CLAIMS
 * (exp missing or not an integer, sub missing or invalid, iss/aud mismatch).
 * The signature is compared in constant time and checked before any claim.
 *
 * Order: shape and base64url of all three segments, then the header (a
 * "crit" member is malformed: no extension is understood; a "kid" that is
 * not a string of at most JWT_MAX_KID bytes is malformed), then the key
 * (below), then the signature, then the claims (claims that are not a JSON object are
 * malformed).  A header or claims document holding a NUL byte or a \u0000
 * escape is malformed (cJSON would cut the string there).  Numeric dates
 * are integers with |value| <= 2^53; a wrong type for nbf/iat is
 * GD_EAUTH_CLAIMS.  Expired when now >= exp + leeway.  out may be NULL; it
 * is zeroed on every failure.  GD_EINVAL for a NULL or refused verifier,
 * GD_ENOMEM if OpenSSL's HMAC fails.
 *
 * The key: a token without "kid" is checked with the primary (keys[0]); a
 * token naming a kid with the key of that kid; a kid no key has is
 * GD_EAUTH_KEY, unless the only key is unnamed (it then verifies the token,
 * kid or not).  One HMAC per token, whatever the number of keys.
 */
int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now,
               struct jwt_claims *out);
/*
 * jwt_verify() of an Authorization header's value: GD_EAUTH_MISSING when
 * authorization is NULL, GD_EAUTH_MALFORMED unless it starts with "Bearer "
 * (the scheme in any case), else what jwt_verify says of the rest.
 */
int jwt_verify_bearer(const struct jwt_verifier *v, const char *authorization, int64_t now,
                      struct jwt_claims *out);

/*
 * Mint an HS256 token for sub, for tests, demos and the load generator.
 * jwt_sign_hs256_kid() also writes kid into the header when it is not NULL
 * or "" ({"alg":"HS256","typ":"JWT","kid":"..."}; GD_EINVAL for a kid that
 * is not 1..64 of [A-Za-z0-9_.-]).
 * iss/aud may be NULL.  Writes a NUL-terminated token into out; returns its
 * length, or GD_ETOOBIG when out_len is too small, GD_EINVAL for a bad sub.
 * Header {"alg":"HS256","typ":"JWT"}, claims in the order sub, iss, aud,
 * iat, exp; iss/aud are left out when NULL or empty and iat when 0.
 * GD_EINVAL also for a key outside JWT_MIN_KEY..JWT_MAX_KEY (a token the
 * verifier could never accept) and iat/exp beyond +-2^53.
 */
int jwt_sign_hs256(const void *key, size_t key_len, const char *sub, int64_t iat, int64_t exp,
                   const char *iss, const char *aud, char *out, size_t out_len);
int jwt_sign_hs256_kid(const void *key, size_t key_len, const char *kid, const char *sub,
                       int64_t iat, int64_t exp, const char *iss, const char *aud, char *out,
                       size_t out_len);

/* Strict base64url (no padding, no whitespace).  Return decoded length or -1. */
int b64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_cap);
/* Returns encoded length (NUL-terminated), or -1 when out_cap is too small. */
int b64url_encode(const unsigned char *in, size_t in_len, char *out, size_t out_cap);

#endif
