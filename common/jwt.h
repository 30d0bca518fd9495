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

/* Verification settings; plain data, no ownership.  iss/aud empty = not checked. */
struct jwt_verifier {
    unsigned char key[JWT_MAX_KEY];
    size_t key_len;
    char iss[128];
    char aud[128];
    int leeway_s; /* tolerance for exp/nbf/iat, seconds */
};

/* Claims giftdrop uses.  sub is 1..64 chars of [A-Za-z0-9_.-]. nbf/iat are 0 when absent. */
struct jwt_claims {
    char sub[JWT_MAX_SUB + 1];
    int64_t exp;
    int64_t nbf;
    int64_t iat;
};

/*
 * Fill v.  Refuses (GD_ECONFIG) a key shorter than JWT_MIN_KEY or longer than
 * JWT_MAX_KEY, and iss/aud longer than their buffers.  iss/aud may be NULL.
 * Also refuses a negative leeway.  v is zeroed first, so a refused verifier
 * (key_len 0) makes jwt_verify fail closed with GD_EINVAL; GD_EINVAL for v NULL.
 */
int jwt_verifier_init(struct jwt_verifier *v, const void *key, size_t key_len, const char *iss,
                      const char *aud, int leeway_s);

/*
 * Verify token[0..len) at time now (unix seconds).  Returns 0 and fills out,
 * or GD_EAUTH_MALFORMED (shape, base64url, JSON, length), GD_EAUTH_ALG (alg
 * not HS256, typ not JWT when present), GD_EAUTH_SIGNATURE, GD_EAUTH_EXPIRED,
 * GD_EAUTH_NOT_YET (nbf or iat in the future beyond leeway), GD_EAUTH_CLAIMS
 * (exp missing or not an integer, sub missing or invalid, iss/aud mismatch).
 * The signature is compared in constant time and checked before any claim.
 *
 * Order: shape and base64url of all three segments, then the header (a
 * "crit" member is malformed: no extension is understood), then the
 * signature, then the claims (claims that are not a JSON object are
 * malformed).  A header or claims document holding a NUL byte or a \u0000
 * escape is malformed (cJSON would cut the string there).  Numeric dates
 * are integers with |value| <= 2^53; a wrong type for nbf/iat is
 * GD_EAUTH_CLAIMS.  Expired when now >= exp + leeway.  out may be NULL; it
 * is zeroed on every failure.  GD_EINVAL for a NULL or refused verifier,
 * GD_ENOMEM if OpenSSL's HMAC fails.
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
 * iss/aud may be NULL.  Writes a NUL-terminated token into out; returns its
 * length, or GD_ETOOBIG when out_len is too small, GD_EINVAL for a bad sub.
 * Header {"alg":"HS256","typ":"JWT"}, claims in the order sub, iss, aud,
 * iat, exp; iss/aud are left out when NULL or empty and iat when 0.
 * GD_EINVAL also for a key outside JWT_MIN_KEY..JWT_MAX_KEY (a token the
 * verifier could never accept) and iat/exp beyond +-2^53.
 */
int jwt_sign_hs256(const void *key, size_t key_len, const char *sub, int64_t iat, int64_t exp,
                   const char *iss, const char *aud, char *out, size_t out_len);

/* Strict base64url (no padding, no whitespace).  Return decoded length or -1. */
int b64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_cap);
/* Returns encoded length (NUL-terminated), or -1 when out_cap is too small. */
int b64url_encode(const unsigned char *in, size_t in_len, char *out, size_t out_cap);

#endif
