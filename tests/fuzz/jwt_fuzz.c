/*
 * jwt_fuzz.c - libFuzzer target for common/jwt.c.
 *
 * Each input is used three ways:
 *   1. as a raw token for jwt_verify (shape, base64url, header paths);
 *   2. as base64url text and as bytes: decode/encode must round-trip exactly,
 *      which also proves the decoder accepts only canonical encodings;
 *   3. split at the first '\n' into header JSON and claims JSON, encoded and
 *      correctly signed with the verifier's key, so the JSON, header and claim
 *      checks behind the signature are reached too.  An accepted token is
 *      cross-checked against an independent reading of its header and claims,
 *      and a verifier with a key set (kid "a" = that key, "b" another) must
 *      accept no more than the single key.
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"
#include "jwt.h"

#define FUZZ_KEY "giftdrop-fuzz-secret-0123456789abcdef"
#define FUZZ_NOW INT64_C(1700000100)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwt_verifier plain;  /* no iss/aud */
static struct jwt_verifier strict; /* iss and aud configured */
static struct jwt_verifier wrong_key;
static struct jwt_verifier named; /* key set "a" (FUZZ_KEY, primary), "b" (another key) */

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "jwt_fuzz: property broken: %s\n", what);
        abort();
    }
}

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    must(jwt_verifier_init(&plain, FUZZ_KEY, strlen(FUZZ_KEY), NULL, NULL, 30) == GD_OK, "init");
    must(jwt_verifier_init(&strict, FUZZ_KEY, strlen(FUZZ_KEY), "giftdrop-login", "giftdrop", 0) ==
             GD_OK,
         "init strict");
    must(jwt_verifier_init(&wrong_key, "0123456789abcdef0123456789abcdef", 32, NULL, NULL, 30) ==
             GD_OK,
         "init wrong key");
    struct jwt_keyset ks;
    must(jwt_keyset_parse("a:" FUZZ_KEY ",b:0123456789abcdef0123456789abcdef", &ks, NULL, 0) ==
             GD_OK,
         "parse key set");
    must(jwt_verifier_init_keys(&named, &ks, NULL, NULL, 30) == GD_OK, "init named");
}

/* Claims handed back on success must satisfy the documented rules. */
static void check_claims(const struct jwt_claims *c, int leeway)
{
    size_t n = strlen(c->sub);
    must(n >= 1 && n <= JWT_MAX_SUB, "sub length");
    must(strspn(c->sub, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n,
         "sub charset");
    must(FUZZ_NOW < c->exp + leeway, "not expired");
    must(c->nbf - leeway <= FUZZ_NOW && c->iat - leeway <= FUZZ_NOW, "not in the future");
}

static void fuzz_raw_token(const uint8_t *data, size_t size)
{
    struct jwt_claims c;
    int rc = jwt_verify(&plain, (const char *)data, size, FUZZ_NOW, &c);
    must(rc == GD_OK || rc == GD_EAUTH_MALFORMED || rc == GD_EAUTH_ALG ||
             rc == GD_EAUTH_SIGNATURE || rc == GD_EAUTH_EXPIRED || rc == GD_EAUTH_NOT_YET ||
             rc == GD_EAUTH_CLAIMS,
         "raw token refused with an undocumented code");
    /* Only a token signed with FUZZ_KEY (a corpus seed or a mutation of one) gets here. */
    if (rc == GD_OK) {
        must(size <= JWT_MAX_TOKEN, "over-long token accepted");
        check_claims(&c, 30);
    }
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
    /* Decode into a buffer of exactly the decoded size, so ASan sees any overrun. */
    size_t cap = size / 4 * 3 + 2;
    unsigned char *raw = malloc(cap ? cap : 1);
    must(raw != NULL, "malloc");
    int n = b64url_decode((const char *)data, size, raw, cap);
    if (n >= 0) {
        unsigned char *exact = malloc(n ? (size_t)n : 1);
        must(exact != NULL, "malloc");
        must(b64url_decode((const char *)data, size, exact, (size_t)n) == n, "exact cap");
        if (n > 0)
            must(b64url_decode((const char *)data, size, exact, (size_t)n - 1) == -1, "small cap");
        /* Strict means canonical: re-encoding gives back the very same text. */
        char *text = malloc(size + 1);
        must(text != NULL, "malloc");
        must(b64url_encode(exact, (size_t)n, text, size + 1) == (int)size, "re-encode length");
        must(memcmp(text, data, size) == 0, "re-encode text");
        free(text);
        free(exact);
    }
    free(raw);

    /* Bytes -> text -> bytes. */
    size_t text_cap = (size + 2) / 3 * 4 + 1;
    char *text = malloc(text_cap);
    unsigned char *back = malloc(size ? size : 1);
    must(text != NULL && back != NULL, "malloc");
    int t = b64url_encode(data, size, text, text_cap);
    must(t >= 0 && (size_t)t < text_cap && text[t] == '\0', "encode");
    must(b64url_decode(text, (size_t)t, back, size) == (int)size, "decode of encode");
    must(size == 0 || memcmp(back, data, size) == 0, "round trip bytes");
    free(back);
    free(text);
}

/* An independent, simpler reading of what an accepted token must contain. */
static void cross_check(const char *hdr, size_t hdr_len, const char *claims, size_t claims_len)
{
    cJSON *h = cJSON_ParseWithLength(hdr, hdr_len);
    cJSON *c = cJSON_ParseWithLength(claims, claims_len);
    must(cJSON_IsObject(h) && cJSON_IsObject(c), "accepted token has object header and claims");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    must(cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0, "accepted alg is HS256");
    must(cJSON_GetObjectItemCaseSensitive(h, "crit") == NULL, "accepted token has no crit");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "exp");
    must(cJSON_IsNumber(exp), "accepted token has numeric exp");
    cJSON_Delete(h);
    cJSON_Delete(c);
}

/* header JSON '\n' claims JSON -> a correctly signed HS256 token. */
static void fuzz_signed(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL)
        return;
    const char *hdr = (const char *)data;
    size_t hdr_len = (size_t)(nl - data);
    const char *claims = (const char *)nl + 1;
    size_t claims_len = size - hdr_len - 1;

    size_t cap = (hdr_len + claims_len) / 3 * 4 + 64 + 8;
    char *tok = malloc(cap);
    must(tok != NULL, "malloc");
    int a = b64url_encode((const unsigned char *)hdr, hdr_len, tok, cap);
    must(a >= 0, "encode header");
    size_t pos = (size_t)a;
    tok[pos++] = '.';
    int b = b64url_encode((const unsigned char *)claims, claims_len, tok + pos, cap - pos);
    must(b >= 0, "encode claims");
    pos += (size_t)b;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    must(HMAC(EVP_sha256(), FUZZ_KEY, (int)strlen(FUZZ_KEY), (const unsigned char *)tok, pos, mac,
              &mac_len) != NULL,
         "HMAC");
    tok[pos++] = '.';
    int s = b64url_encode(mac, mac_len, tok + pos, cap - pos);
    must(s >= 0, "encode signature");
    pos += (size_t)s;

    struct jwt_claims c;
    int rc = jwt_verify(&plain, tok, pos, FUZZ_NOW, &c);
    must(rc != GD_EAUTH_SIGNATURE, "a correct signature was refused");
    if (rc == GD_OK) {
        must(pos <= JWT_MAX_TOKEN, "over-long token accepted");
        check_claims(&c, 30);
        cross_check(hdr, hdr_len, claims, claims_len);
    }
    struct jwt_claims other; /* a refusal zeroes it: keep c intact */
    int rc_strict = jwt_verify(&strict, tok, pos, FUZZ_NOW, &other);
    if (rc_strict == GD_OK) {
        check_claims(&other, 0);
        must(rc == GD_OK, "strict verifier accepted what the plain one refused");
    }
    /* The same token under another key never verifies. */
    must(jwt_verify(&wrong_key, tok, pos, FUZZ_NOW, &other) != GD_OK, "wrong key accepted");
    /* A key set holding FUZZ_KEY as "a" accepts no more than the single key;
     * where they differ, it is over the key (kid "b", an unknown kid). */
    int rc_named = jwt_verify(&named, tok, pos, FUZZ_NOW, &other);
    must(rc_named != GD_OK || rc == GD_OK, "key set accepted what the single key refused");
    must(rc_named == GD_OK || rc_named == GD_EAUTH_KEY || rc_named == GD_EAUTH_SIGNATURE ||
             rc_named == rc,
         "key set refused with another code than the single key");
    /* Signing through the API with a sub from the claims must always round-trip. */
    if (rc == GD_OK) {
        char again[1024];
        int n = jwt_sign_hs256(FUZZ_KEY, strlen(FUZZ_KEY), c.sub, c.iat, c.exp, NULL, NULL, again,
                               sizeof again);
        must(n > 0, "re-sign");
        struct jwt_claims c2;
        must(jwt_verify(&plain, again, (size_t)n, FUZZ_NOW, &c2) == GD_OK, "re-signed verifies");
        must(strcmp(c2.sub, c.sub) == 0 && c2.exp == c.exp, "re-signed claims");
    }
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    fuzz_raw_token(data, size);
    fuzz_base64(data, size);
    fuzz_signed(data, size);
    return 0;
}
