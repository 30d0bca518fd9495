/*
 * jwt_test.c - tests for common/jwt.c: base64url vectors, a known-answer
 * token computed outside this code (python3 hmac/base64 and
 * `openssl dgst -sha256 -mac HMAC`), sign/verify round trips, and the attack
 * set: every refusal asserts its exact error code.
 *
 * Attack tokens are built here with OpenSSL directly (craft()), not with
 * jwt_sign_hs256, so a header or claim the signer would never write can be
 * signed correctly and the verifier's own checks are what refuses it.
 */
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "errors.h"
#include "jwt.h"
#include "test.h"

/* 32 bytes: the shortest key the verifier accepts. */
#define KEY       "giftdrop-unit-test-secret-32byte"
#define KEY_LEN   (sizeof KEY - 1)
#define OTHER_KEY "another-secret-of-thirty-two-byt"
#define NOW       INT64_C(1700000100)
#define HS256_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/*
 * Known answer, computed independently:
 *   python3: b64url(hmac.new(KEY, h + "." + c, sha256).digest())
 *   openssl: printf %s "$h.$c" | openssl dgst -sha256 -mac HMAC \
 *              -macopt key:giftdrop-unit-test-secret-32byte -binary | base64 | tr '+/' '-_'
 * for header {"alg":"HS256","typ":"JWT"} and claims
 * {"sub":"m-123","iat":1700000000,"exp":1700003600} (KAT1), and
 * {"sub":"m-123","iss":"giftdrop-login","aud":"giftdrop","iat":1700000000,"exp":1700003600}
 * (KAT2).  Both are also exactly what jwt_sign_hs256 must produce.
 */
#define KAT1                                                                                       \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJzdWIiOiJtLTEyMyIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ."                          \
    "yA1hftTDo-h2YuYeh1Bx7jisrjE42d6At-HmSoNT9x4"
#define KAT2                                                                                       \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJzdWIiOiJtLTEyMyIsImlzcyI6ImdpZnRkcm9wLWxvZ2luIiwiYXVkIjoiZ2lmdGRyb3AiLCJpYXQiOjE3MDAwMDAw" \
    "MDAsImV4cCI6MTcwMDAwMzYwMH0."                                                                 \
    "p_s87uKlkfcVDubyPs-iTeOuOW0buFtdeDIlkJTpomg"

/* Where KAT1's two dots are: segments are [0,36) [37,103) [104,147). */
#define DOT1 36
#define DOT2 103

static const char *const kat1 = KAT1; /* for pointer arithmetic on the token */

static struct jwt_verifier verifier; /* KEY, no iss/aud, leeway 30 s */

static void init_verifier(void)
{
    int rc = jwt_verifier_init(&verifier, KEY, KEY_LEN, NULL, NULL, 30);
    if (rc != GD_OK) {
        fprintf(stderr, "jwt_verifier_init: %s\n", err_name(rc));
        exit(1);
    }
}

static int verify(const char *tok)
{
    struct jwt_claims c;
    return jwt_verify(&verifier, tok, strlen(tok), NOW, &c);
}

/* Append b64url(data) to out at *pos (test tokens always fit). */
static void put_b64(char *out, size_t cap, size_t *pos, const void *data, size_t len)
{
    int n = b64url_encode(data, len, out + *pos, cap - *pos);
    if (n < 0) {
        fprintf(stderr, "put_b64: buffer too small\n");
        exit(1);
    }
    *pos += (size_t)n;
}

/*
 * Build b64url(hdr) "." b64url(claims) "." b64url(HMAC-md(key, signing input)).
 * md NULL leaves the signature segment empty ("h.c.").
 */
static const char *craft_mac(char *out, size_t cap, const char *hdr, const char *claims,
                             const EVP_MD *md, const char *key)
{
    size_t pos = 0;
    put_b64(out, cap, &pos, hdr, strlen(hdr));
    out[pos++] = '.';
    put_b64(out, cap, &pos, claims, strlen(claims));
    size_t signed_len = pos;
    out[pos++] = '.';
    out[pos] = '\0';
    if (md != NULL) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        HMAC(md, key, (int)strlen(key), (const unsigned char *)out, signed_len, mac, &mac_len);
        put_b64(out, cap, &pos, mac, mac_len);
    }
    return out;
}

/* The common case: HS256 with the verifier's key. */
static const char *craft(char *out, size_t cap, const char *hdr, const char *claims)
{
    return craft_mac(out, cap, hdr, claims, EVP_sha256(), KEY);
}

/* Replace the base64url character at idx by the one whose 6-bit value differs in bit 0. */
static void flip_char(char *tok, size_t idx)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, tok[idx]);
    tok[idx] = alphabet[(p - alphabet) ^ 1];
}

/* RFC 4648 section 10 vectors, in the url alphabet and without padding. */
TEST(b64url_known_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32];
    unsigned char raw[32];

    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        size_t n = strlen(plain[i]);
        CHECK_INT(b64url_encode((const unsigned char *)plain[i], n, out, sizeof out),
                  strlen(enc[i]));
        CHECK_STR(out, enc[i]);
        CHECK_INT(b64url_decode(enc[i], strlen(enc[i]), raw, sizeof raw), n);
        CHECK(memcmp(raw, plain[i], n) == 0);
    }
    /* The two characters where base64url differs from base64. */
    static const unsigned char fb[] = {0xfb, 0xff};
    CHECK_INT(b64url_encode(fb, 2, out, sizeof out), 3);
    CHECK_STR(out, "-_8");
    CHECK_INT(b64url_decode("-_8", 3, raw, sizeof raw), 2);
    CHECK(raw[0] == 0xfb && raw[1] == 0xff);
}

TEST(b64url_strict)
{
    unsigned char raw[32];
    char out[8];

    CHECK_INT(b64url_decode("Zg==", 4, raw, sizeof raw), -1);   /* padding */
    CHECK_INT(b64url_decode("Zm9=", 4, raw, sizeof raw), -1);   /* padding */
    CHECK_INT(b64url_decode("+_8", 3, raw, sizeof raw), -1);    /* base64, not base64url */
    CHECK_INT(b64url_decode("-/8", 3, raw, sizeof raw), -1);    /* base64, not base64url */
    CHECK_INT(b64url_decode("Zm 9v", 5, raw, sizeof raw), -1);  /* whitespace */
    CHECK_INT(b64url_decode("Zm9v\n", 5, raw, sizeof raw), -1); /* whitespace */
    CHECK_INT(b64url_decode("Zm9vY", 5, raw, sizeof raw), -1);  /* 6 bits left over */
    CHECK_INT(b64url_decode("Zh", 2, raw, sizeof raw), -1);     /* non-canonical: "f" is "Zg" */
    CHECK_INT(b64url_decode("Zm8", 3, raw, sizeof raw), 2);
    CHECK_INT(b64url_decode("Zm9", 3, raw, sizeof raw), -1); /* non-canonical: "fo" is "Zm8" */
    CHECK_INT(b64url_decode("Zm-", 3, raw, sizeof raw), -1); /* non-canonical last char */
    CHECK_INT(b64url_decode("Zm\0v", 4, raw, sizeof raw), -1);
    CHECK_INT(b64url_decode("Zm9vYmFy", 8, raw, 5), -1); /* out_cap too small */
    CHECK_INT(b64url_decode("Zm9vYmFy", 8, raw, 6), 6);
    CHECK_INT(b64url_encode((const unsigned char *)"foobar", 6, out, 8), -1); /* no room for NUL */
    CHECK_INT(b64url_encode((const unsigned char *)"fooba", 5, out, 8), 7);
}

TEST(known_answer_verifies)
{
    struct jwt_claims c;
    CHECK(KAT1[DOT1] == '.' && KAT1[DOT2] == '.' && strlen(KAT1) == DOT2 + 1 + 43);
    CHECK_INT(jwt_verify(&verifier, KAT1, strlen(KAT1), NOW, &c), GD_OK);
    CHECK_STR(c.sub, "m-123");
    CHECK_INT(c.exp, 1700003600);
    CHECK_INT(c.iat, 1700000000);
    CHECK_INT(c.nbf, 0);
    CHECK_INT(jwt_verify(&verifier, KAT2, strlen(KAT2), NOW, &c), GD_OK);
    CHECK_STR(c.sub, "m-123");
}

TEST(sign_matches_known_answer)
{
    char out[512];
    int n =
        jwt_sign_hs256(KEY, KEY_LEN, "m-123", 1700000000, 1700003600, NULL, NULL, out, sizeof out);
    CHECK_INT(n, strlen(KAT1));
    CHECK_STR(out, KAT1);
    n = jwt_sign_hs256(KEY, KEY_LEN, "m-123", 1700000000, 1700003600, "giftdrop-login", "giftdrop",
                       out, sizeof out);
    CHECK_INT(n, strlen(KAT2));
    CHECK_STR(out, KAT2);
}

TEST(sign_verify_round_trip)
{
    static const char *const subs[] = {"a", "m-123", "Member_1.x-Y", "0123456789"};
    char tok[1024];
    struct jwt_claims c;

    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        int n = jwt_sign_hs256(KEY, KEY_LEN, subs[i], NOW, NOW + 600, NULL, NULL, tok, sizeof tok);
        CHECK(n > 0);
        CHECK_INT(jwt_verify(&verifier, tok, (size_t)n, NOW, &c), GD_OK);
        CHECK_STR(c.sub, subs[i]);
        CHECK_INT(c.exp, NOW + 600);
        CHECK_INT(c.iat, NOW);
    }
    /* iss/aud with characters that need JSON escaping survive the trip. */
    struct jwt_verifier v;
    CHECK_INT(jwt_verifier_init(&v, KEY, KEY_LEN, "ev\"il\\iss", "a\tud", 0), GD_OK);
    int n =
        jwt_sign_hs256(KEY, KEY_LEN, "m-1", 0, NOW + 1, "ev\"il\\iss", "a\tud", tok, sizeof tok);
    CHECK(n > 0);
    CHECK_INT(jwt_verify(&v, tok, (size_t)n, NOW, &c), GD_OK);
    CHECK_INT(c.iat, 0);
}

TEST(sign_refusals)
{
    char tok[1024];
    char sub65[66];
    memset(sub65, 'a', 65);
    sub65[65] = '\0';

    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN, "", NOW, NOW + 1, NULL, NULL, tok, sizeof tok),
              GD_EINVAL);
    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN, "a b", NOW, NOW + 1, NULL, NULL, tok, sizeof tok),
              GD_EINVAL);
    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN, sub65, NOW, NOW + 1, NULL, NULL, tok, sizeof tok),
              GD_EINVAL);
    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN - 1, "m", NOW, NOW + 1, NULL, NULL, tok, sizeof tok),
              GD_EINVAL);
    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN, "m", NOW, NOW + 1, NULL, NULL, tok, 40), GD_ETOOBIG);
    CHECK_STR(tok, "");
    /* Exactly enough room: the token plus its NUL. */
    int n =
        jwt_sign_hs256(KEY, KEY_LEN, "m-123", 1700000000, 1700003600, NULL, NULL, tok, sizeof KAT1);
    CHECK_INT(n, strlen(KAT1));
    CHECK_INT(jwt_sign_hs256(KEY, KEY_LEN, "m-123", 1700000000, 1700003600, NULL, NULL, tok,
                             sizeof KAT1 - 1),
              GD_ETOOBIG);
}

TEST(alg_none)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";
    /* Empty signature: refused by shape (three non-empty segments) before alg. */
    craft_mac(tok, sizeof tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, NULL);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    craft_mac(tok, sizeof tok, "{\"alg\":\"none\"}", claims, NULL, NULL);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    /* "h.c" without the last dot: two segments. */
    tok[strlen(tok) - 1] = '\0';
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    /* With a signature that HS256 would accept: the header alone refuses it. */
    craft(tok, sizeof tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
    craft(tok, sizeof tok, "{\"alg\":\"None\"}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
}

TEST(alg_swaps)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";

    /* Correctly signed for HS512 / HS384 with the same secret. */
    craft_mac(tok, sizeof tok, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, EVP_sha512(), KEY);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
    craft_mac(tok, sizeof tok, "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", claims, EVP_sha384(), KEY);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
    /* The alg names another algorithm but the MAC is a valid HS256 one: still refused. */
    craft(tok, sizeof tok, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
    craft(tok, sizeof tok, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);

    /* A genuine RS256 token (RSA-SHA256 signature). */
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    CHECK(pk != NULL);
    if (pk != NULL) {
        size_t pos = 0;
        const char *hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
        put_b64(tok, sizeof tok, &pos, hdr, strlen(hdr));
        tok[pos++] = '.';
        put_b64(tok, sizeof tok, &pos, claims, strlen(claims));
        unsigned char sig[512];
        size_t sig_len = sizeof sig;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        CHECK(md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
              EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)tok, pos) == 1);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(pk);
        tok[pos++] = '.';
        put_b64(tok, sizeof tok, &pos, sig, sig_len);
        CHECK_INT(sig_len, 256);
        CHECK_INT(verify(tok), GD_EAUTH_ALG);
    }
}

TEST(alg_spelling)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";
    static const char *const headers[] = {
        "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
        "{\"alg\":\" HS256\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"Hs256\"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":256}",
        "{\"alg\":null}",
        "{\"alg\":[\"HS256\"]}",
        "{\"ALG\":\"HS256\"}", /* member names are case-sensitive */
        "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
        "{\"alg\":\"HS256\",\"typ\":1}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        craft(tok, sizeof tok, headers[i], claims);
        CHECK_INT(verify(tok), GD_EAUTH_ALG);
    }
    /* typ may be absent; other header members are ignored. */
    craft(tok, sizeof tok, "{\"alg\":\"HS256\"}", claims);
    CHECK_INT(verify(tok), GD_OK);
    craft(tok, sizeof tok, "{\"kid\":\"k1\",\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
    CHECK_INT(verify(tok), GD_OK);
}

TEST(crit_header)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";
    craft(tok, sizeof tok, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    craft(tok, sizeof tok, "{\"alg\":\"HS256\",\"crit\":[]}", claims);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
}

TEST(flipped_char_in_each_segment)
{
    char tok[sizeof KAT1];
    unsigned char raw[128];
    int n;

    /*
     * Header: char 23 carries bit 0 of byte 17, the 'y' of "typ": the header
     * becomes {"alg":"HS256","txp":"JWT"}, still acceptable, so only the
     * signature can catch it.
     */
    memcpy(tok, KAT1, sizeof KAT1);
    flip_char(tok, 23);
    n = b64url_decode(tok, 36, raw, sizeof raw);
    CHECK(n == 27 && memcmp(raw, "{\"alg\":\"HS256\",\"txp\":\"JWT\"}", 27) == 0);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);

    /* Claims: char 15 carries bit 0 of byte 11, so sub "m-123" becomes "m-133". */
    memcpy(tok, KAT1, sizeof KAT1);
    flip_char(tok, DOT1 + 1 + 15);
    n = b64url_decode(tok + DOT1 + 1, DOT2 - DOT1 - 1, raw, sizeof raw);
    CHECK(n > 14 && memcmp(raw, "{\"sub\":\"m-133\"", 14) == 0);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);

    /* Signature: the first and a middle character. */
    size_t sig_at = strlen(KAT1) - 43;
    memcpy(tok, KAT1, sizeof KAT1);
    flip_char(tok, sig_at);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    memcpy(tok, KAT1, sizeof KAT1);
    flip_char(tok, sig_at + 20);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    /* The last character has two unused bits: flipping one is non-canonical base64url. */
    memcpy(tok, KAT1, sizeof KAT1);
    flip_char(tok, strlen(KAT1) - 1);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
}

TEST(wrong_signatures)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";

    craft_mac(tok, sizeof tok, HS256_HDR, claims, EVP_sha256(), OTHER_KEY);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    /* A valid MAC truncated to 16 bytes, and an HS512-length MAC under an HS256 header. */
    craft(tok, sizeof tok, HS256_HDR, claims);
    tok[strlen(tok) - 43 + 22] = '\0'; /* 22 chars = 16 bytes, canonical: ends in 'A'/'Q'/'g'/'w' */
    tok[strlen(tok) - 1] = 'A';
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    craft_mac(tok, sizeof tok, HS256_HDR, claims, EVP_sha512(), KEY);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    /* A MAC made with an empty key. */
    craft_mac(tok, sizeof tok, HS256_HDR, claims, EVP_sha256(), "");
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
}

TEST(checks_run_in_order)
{
    char tok[1024];
    /* Bad alg and bad signature: the header is refused first. */
    craft_mac(tok, sizeof tok, "{\"alg\":\"HS512\"}", "{\"sub\":\"m\",\"exp\":1}", EVP_sha256(),
              OTHER_KEY);
    CHECK_INT(verify(tok), GD_EAUTH_ALG);
    /* Expired, missing sub, claims not JSON: with a bad signature, the signature is refused. */
    craft_mac(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":1}", EVP_sha256(), OTHER_KEY);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    craft_mac(tok, sizeof tok, HS256_HDR, "{\"exp\":1}", EVP_sha256(), OTHER_KEY);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    craft_mac(tok, sizeof tok, HS256_HDR, "not json", EVP_sha256(), OTHER_KEY);
    CHECK_INT(verify(tok), GD_EAUTH_SIGNATURE);
    /* With a good signature the same claims give their own codes. */
    craft(tok, sizeof tok, HS256_HDR, "not json");
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    craft(tok, sizeof tok, HS256_HDR, "[{\"sub\":\"m\",\"exp\":1700003600}]");
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":1700003600} x");
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":1700003600} \n");
    CHECK_INT(verify(tok), GD_OK);
}

TEST(expiry)
{
    char tok[1024];
    struct jwt_claims c;
    struct jwt_verifier v0;
    CHECK_INT(jwt_verifier_init(&v0, KEY, KEY_LEN, NULL, NULL, 0), GD_OK);
    int n = jwt_sign_hs256(KEY, KEY_LEN, "m-1", 0, NOW, NULL, NULL, tok, sizeof tok);
    CHECK(n > 0);

    /* Leeway 0: valid strictly before exp. */
    CHECK_INT(jwt_verify(&v0, tok, (size_t)n, NOW - 1, &c), GD_OK);
    CHECK_INT(jwt_verify(&v0, tok, (size_t)n, NOW, &c), GD_EAUTH_EXPIRED);
    CHECK_INT(jwt_verify(&v0, tok, (size_t)n, NOW + 86400, &c), GD_EAUTH_EXPIRED);
    /* Leeway 30: valid until exp + 30, exclusive. */
    CHECK_INT(jwt_verify(&verifier, tok, (size_t)n, NOW + 29, &c), GD_OK);
    CHECK_INT(jwt_verify(&verifier, tok, (size_t)n, NOW + 30, &c), GD_EAUTH_EXPIRED);
    /* Far past exp, and an exp before the epoch. */
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":-1}");
    CHECK_INT(verify(tok), GD_EAUTH_EXPIRED);
    /* Extreme values of now do not overflow anything. */
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":9007199254740992}");
    CHECK_INT(jwt_verify(&verifier, tok, strlen(tok), INT64_MAX, &c), GD_EAUTH_EXPIRED);
    CHECK_INT(jwt_verify(&verifier, tok, strlen(tok), INT64_MIN, &c), GD_OK);
}

TEST(not_yet_valid)
{
    char tok[1024];
    char claims[256];

    /* nbf: accepted up to now + leeway, refused after. */
    snprintf(claims, sizeof claims, "{\"sub\":\"m\",\"exp\":%lld,\"nbf\":%lld}",
             (long long)(NOW + 600), (long long)(NOW + 30));
    CHECK_INT(verify(craft(tok, sizeof tok, HS256_HDR, claims)), GD_OK);
    snprintf(claims, sizeof claims, "{\"sub\":\"m\",\"exp\":%lld,\"nbf\":%lld}",
             (long long)(NOW + 600), (long long)(NOW + 31));
    CHECK_INT(verify(craft(tok, sizeof tok, HS256_HDR, claims)), GD_EAUTH_NOT_YET);
    /* iat in the future beyond leeway: a token from a skewed or forged clock. */
    snprintf(claims, sizeof claims, "{\"sub\":\"m\",\"exp\":%lld,\"iat\":%lld}",
             (long long)(NOW + 600), (long long)(NOW + 30));
    CHECK_INT(verify(craft(tok, sizeof tok, HS256_HDR, claims)), GD_OK);
    snprintf(claims, sizeof claims, "{\"sub\":\"m\",\"exp\":%lld,\"iat\":%lld}",
             (long long)(NOW + 600), (long long)(NOW + 3600));
    CHECK_INT(verify(craft(tok, sizeof tok, HS256_HDR, claims)), GD_EAUTH_NOT_YET);

    struct jwt_claims c;
    snprintf(claims, sizeof claims, "{\"sub\":\"m\",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld}",
             (long long)(NOW + 600), (long long)(NOW - 5), (long long)(NOW - 10));
    craft(tok, sizeof tok, HS256_HDR, claims);
    CHECK_INT(jwt_verify(&verifier, tok, strlen(tok), NOW, &c), GD_OK);
    CHECK_INT(c.nbf, NOW - 5);
    CHECK_INT(c.iat, NOW - 10);
}

TEST(numeric_claims_must_be_integers)
{
    char tok[1024];
    static const char *const bad[] = {
        "{\"sub\":\"m\"}",                                   /* missing exp */
        "{\"sub\":\"m\",\"exp\":\"1700003600\"}",            /* string */
        "{\"sub\":\"m\",\"exp\":1700003600.5}",              /* fractional */
        "{\"sub\":\"m\",\"exp\":null}",                      /* null */
        "{\"sub\":\"m\",\"exp\":true}",                      /* bool */
        "{\"sub\":\"m\",\"exp\":1e999}",                     /* infinity */
        "{\"sub\":\"m\",\"exp\":9007199254740993e3}",        /* beyond 2^53 */
        "{\"sub\":\"m\",\"exp\":1700003600,\"nbf\":\"0\"}",  /* string nbf */
        "{\"sub\":\"m\",\"exp\":1700003600,\"iat\":1.25}",   /* fractional iat */
        "{\"sub\":\"m\",\"exp\":1700003600,\"iat\":[1]}",    /* array iat */
        "{\"sub\":\"m\",\"exp\":1700003600,\"nbf\":{}}",     /* object nbf */
        "{\"sub\":\"m\",\"exp\":[1700003600]}",              /* array exp */
        "{\"sub\":\"m\",\"Exp\":1700003600}",                /* case matters */
        "{\"sub\":\"m\",\"exp\":1700003600,\"iat\":1e400}",  /* infinity iat */
        "{\"sub\":\"m\",\"exp\":1700003600,\"nbf\":-1e300}", /* -huge nbf */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        craft(tok, sizeof tok, HS256_HDR, bad[i]);
        CHECK_INT(verify(tok), GD_EAUTH_CLAIMS);
    }
    /* An integer written with an exponent is still an integer. */
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":1.7000036e9}");
    CHECK_INT(verify(tok), GD_OK);
}

TEST(sub_rules)
{
    char tok[1024];
    char claims[256];
    struct jwt_claims c;
    static const char *const bad[] = {
        "{\"exp\":1700003600}",                          /* missing */
        "{\"sub\":\"\",\"exp\":1700003600}",             /* empty */
        "{\"sub\":\"m 1\",\"exp\":1700003600}",          /* space */
        "{\"sub\":\"m/1\",\"exp\":1700003600}",          /* slash */
        "{\"sub\":\"m@1\",\"exp\":1700003600}",          /* at */
        "{\"sub\":\"m:1\",\"exp\":1700003600}",          /* colon (key separator) */
        "{\"sub\":\"\\u00e9\",\"exp\":1700003600}",      /* non-ASCII */
        "{\"sub\":\"\xed\x9a\x8c\",\"exp\":1700003600}", /* Korean */
        "{\"sub\":\"m\\n\",\"exp\":1700003600}",         /* newline */
        "{\"sub\":123,\"exp\":1700003600}",              /* number */
        "{\"sub\":null,\"exp\":1700003600}",             /* null */
        "{\"sub\":[\"m\"],\"exp\":1700003600}",          /* array */
        "{\"sub\":\"m{1}\",\"exp\":1700003600}",         /* Redis hash tag chars */
        "{\"sub\":\"m*\",\"exp\":1700003600}",           /* glob */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        craft(tok, sizeof tok, HS256_HDR, bad[i]);
        CHECK_INT(verify(tok), GD_EAUTH_CLAIMS);
    }
    /* 64 characters pass, 65 do not. */
    char sub[66];
    memset(sub, 'x', sizeof sub);
    sub[64] = '\0';
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":1700003600}", sub);
    craft(tok, sizeof tok, HS256_HDR, claims);
    CHECK_INT(jwt_verify(&verifier, tok, strlen(tok), NOW, &c), GD_OK);
    CHECK_INT(strlen(c.sub), 64);
    sub[64] = 'x';
    sub[65] = '\0';
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":1700003600}", sub);
    CHECK_INT(verify(craft(tok, sizeof tok, HS256_HDR, claims)), GD_EAUTH_CLAIMS);
    /* A NUL would make cJSON cut "m-1\0admin" to "m-1": refused as malformed. */
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m-1\\u0000admin\",\"exp\":1700003600}");
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    /* ...but an escaped backslash followed by "u0000" is just text (and a bad sub). */
    craft(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\\\\u0000\",\"exp\":1700003600}");
    CHECK_INT(verify(tok), GD_EAUTH_CLAIMS);
}

TEST(nul_byte_in_claims)
{
    char tok[1024];
    size_t pos = 0;
    static const char claims[] = "{\"sub\":\"m-1\0x\",\"exp\":1700003600}";
    put_b64(tok, sizeof tok, &pos, HS256_HDR, strlen(HS256_HDR));
    tok[pos++] = '.';
    put_b64(tok, sizeof tok, &pos, claims, sizeof claims - 1);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), KEY, (int)KEY_LEN, (const unsigned char *)tok, pos, mac, &mac_len);
    tok[pos++] = '.';
    put_b64(tok, sizeof tok, &pos, mac, mac_len);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
}

TEST(malformed_base64)
{
    char tok[1024];
    char buf[1200];

    /* Padding in each segment. */
    snprintf(buf, sizeof buf, "%.*s=%s", DOT1, KAT1, kat1 + DOT1);
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%.*s=%s", DOT2, KAT1, kat1 + DOT2);
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%s=", KAT1);
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    /* The standard base64 alphabet: '-' -> '+' in KAT1's signature, '_' -> '/' in KAT2's. */
    strcpy(tok, KAT1);
    *strchr(tok + DOT2 + 1, '-') = '+';
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    strcpy(tok, KAT2);
    *strrchr(tok, '_') = '/';
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    /* Whitespace anywhere. */
    static const char *const ws[] = {" ", "\n", "\t", "\r\n"};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", ws[i], KAT1);
        CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
        snprintf(buf, sizeof buf, "%s%s", KAT1, ws[i]);
        CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
        snprintf(buf, sizeof buf, "%.50s%s%s", KAT1, ws[i], kat1 + 50);
        CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
        snprintf(buf, sizeof buf, "%.*s%s%s", DOT1 + 1, KAT1, ws[i], kat1 + DOT1 + 1);
        CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    }
    /* Other bytes outside the alphabet, including NUL inside the given length. */
    strcpy(tok, KAT1);
    tok[10] = '!';
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    strcpy(tok, KAT1);
    tok[10] = '\0';
    CHECK_INT(jwt_verify(&verifier, tok, strlen(KAT1), NOW, NULL), GD_EAUTH_MALFORMED);
    strcpy(tok, KAT1);
    tok[60] = (char)0xC3;
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    /* A segment whose length leaves 6 bits over (len % 4 == 1). */
    snprintf(buf, sizeof buf, "%.*sA%s", DOT1, KAT1, kat1 + DOT1);
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
}

TEST(segment_count)
{
    char buf[1200];
    static const char *const bad[] = {
        "", ".", "..", "...", "a", "a.b", "a.b.", ".b.c", "a..c", "a.b.c.", "a.b.c.d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(verify(bad[i]), GD_EAUTH_MALFORMED);
    /* The known-good token with a segment dropped, emptied or added. */
    snprintf(buf, sizeof buf, "%.*s", DOT2 + 1, KAT1); /* "h.c." */
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%s.", KAT1);
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%s.%s", KAT1, kat1 + DOT2 + 1); /* "h.c.s.s" */
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%.*s.%s", DOT1 + 1, KAT1, kat1 + DOT1 + 1); /* "h..c.s" */
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%s", kat1 + DOT1); /* ".c.s" */
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    snprintf(buf, sizeof buf, "%.*s", DOT2, KAT1); /* "h.c" */
    CHECK_INT(verify(buf), GD_EAUTH_MALFORMED);
    CHECK_INT(jwt_verify(&verifier, NULL, 0, NOW, NULL), GD_EAUTH_MALFORMED);
}

#define BIG_CAP (12 * 1024)

/* Claims {"sub":"m","exp":...,"p":"aaa..."} with fill 'a's, signed into tok. */
static size_t craft_padded(char *tok, size_t fill)
{
    static const char head[] = "{\"sub\":\"m\",\"exp\":1700003600,\"p\":\"";
    char *claims = malloc(sizeof head + fill + 2);
    if (claims == NULL) {
        fprintf(stderr, "craft_padded: out of memory\n");
        exit(1);
    }
    memcpy(claims, head, sizeof head - 1);
    memset(claims + sizeof head - 1, 'a', fill);
    strcpy(claims + sizeof head - 1 + fill, "\"}");
    craft(tok, BIG_CAP, HS256_HDR, claims);
    free(claims);
    return strlen(tok);
}

TEST(token_length_bound)
{
    char *tok = malloc(BIG_CAP);
    CHECK(tok != NULL);
    if (tok == NULL)
        return;

    /* A 10 KB token, correctly signed: refused on length alone. */
    CHECK(craft_padded(tok, 7700) > 10 * 1024);
    CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);

    /* Exactly JWT_MAX_TOKEN characters: accepted; one more: refused. */
    int at_max = 0, over_max = 0;
    for (size_t fill = 2900; fill < 3100; fill++) {
        size_t len = craft_padded(tok, fill);
        if (len == JWT_MAX_TOKEN) {
            at_max++;
            CHECK_INT(verify(tok), GD_OK);
        } else if (len == JWT_MAX_TOKEN + 1) {
            over_max++;
            CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
        }
    }
    CHECK(at_max > 0 && over_max > 0);
    free(tok);
}

TEST(header_not_a_json_object)
{
    char tok[1024];
    const char *claims = "{\"sub\":\"m-1\",\"exp\":1700003600}";
    static const char *const headers[] = {
        "not json",
        "[{\"alg\":\"HS256\",\"typ\":\"JWT\"}]",
        "\"HS256\"",
        "null",
        "42",
        "{\"alg\":\"HS256\"",
        "{\"alg\":\"HS256\"}{}",
        "{\"alg\":\"HS256\"} garbage",
        "{\"alg\":\"HS256\\u0000\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        craft(tok, sizeof tok, headers[i], claims);
        CHECK_INT(verify(tok), GD_EAUTH_MALFORMED);
    }
}

/* Verify an HS256 token with these claims against v. */
static int verify_claims(const struct jwt_verifier *v, const char *claims)
{
    char tok[1024];
    craft(tok, sizeof tok, HS256_HDR, claims);
    return jwt_verify(v, tok, strlen(tok), NOW, NULL);
}

TEST(issuer_and_audience)
{
    struct jwt_verifier v;
    char tok[1024];
    CHECK_INT(jwt_verifier_init(&v, KEY, KEY_LEN, "giftdrop-login", "giftdrop", 30), GD_OK);
#define V(claims) verify_claims(&v, claims)
    CHECK_INT(jwt_verify(&v, KAT2, strlen(KAT2), NOW, NULL), GD_OK);
    CHECK_INT(jwt_verify(&v, KAT1, strlen(KAT1), NOW, NULL), GD_EAUTH_CLAIMS); /* none given */
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\","
                "\"aud\":[\"other\",\"giftdrop\"]}"),
              GD_OK);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"evil\",\"aud\":\"giftdrop\"}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login \","
                "\"aud\":\"giftdrop\"}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"aud\":\"giftdrop\"}"), GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":[\"giftdrop-login\"],"
                "\"aud\":\"giftdrop\"}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\",\"aud\":\"other\"}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\"}"), GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\","
                "\"aud\":[\"other\",\"GIFTDROP\"]}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\",\"aud\":[]}"),
              GD_EAUTH_CLAIMS);
    CHECK_INT(V("{\"sub\":\"m\",\"exp\":1700003600,\"iss\":\"giftdrop-login\","
                "\"aud\":[1,null,{\"a\":\"giftdrop\"}]}"),
              GD_EAUTH_CLAIMS);
#undef V
    /* Not configured: iss/aud are not looked at, whatever their type. */
    craft(tok, sizeof tok, HS256_HDR,
          "{\"sub\":\"m\",\"exp\":1700003600,\"iss\":1,\"aud\":{\"x\":1}}");
    CHECK_INT(verify(tok), GD_OK);
}

TEST(verifier_init_rules)
{
    struct jwt_verifier v;
    char key[JWT_MAX_KEY + 1];
    char name[200];
    memset(key, 'k', sizeof key);
    memset(name, 'i', sizeof name);

    CHECK_INT(jwt_verifier_init(&v, key, 31, NULL, NULL, 30), GD_ECONFIG);
    CHECK_INT(v.ks.n, 0);
    CHECK_INT(jwt_verifier_init(&v, key, 0, NULL, NULL, 30), GD_ECONFIG);
    CHECK_INT(jwt_verifier_init(&v, NULL, 32, NULL, NULL, 30), GD_ECONFIG);
    CHECK_INT(jwt_verifier_init(&v, key, JWT_MAX_KEY + 1, NULL, NULL, 30), GD_ECONFIG);
    CHECK_INT(jwt_verifier_init(&v, key, JWT_MAX_KEY, NULL, NULL, 30), GD_OK);
    CHECK_INT(jwt_verifier_init(&v, key, 32, NULL, NULL, -1), GD_ECONFIG);
    name[128] = '\0';
    CHECK_INT(jwt_verifier_init(&v, key, 32, name, NULL, 30), GD_ECONFIG);
    CHECK_INT(jwt_verifier_init(&v, key, 32, NULL, name, 30), GD_ECONFIG);
    name[127] = '\0';
    CHECK_INT(jwt_verifier_init(&v, key, 32, name, name, 30), GD_OK);
    CHECK_INT(jwt_verifier_init(&v, key, 32, "", "", 0), GD_OK);
    CHECK_INT(jwt_verifier_init(NULL, key, 32, NULL, NULL, 0), GD_EINVAL);
}

/* libjwt's trap: an empty key must not mean "skip verification". */
TEST(refused_verifier_accepts_nothing)
{
    struct jwt_verifier v;
    char tok[1024];
    CHECK_INT(jwt_verifier_init(&v, "short", 5, NULL, NULL, 30), GD_ECONFIG);
    craft_mac(tok, sizeof tok, HS256_HDR, "{\"sub\":\"m\",\"exp\":1700003600}", EVP_sha256(), "");
    CHECK_INT(jwt_verify(&v, tok, strlen(tok), NOW, NULL), GD_EINVAL);
    struct jwt_verifier zero;
    memset(&zero, 0, sizeof zero);
    CHECK_INT(jwt_verify(&zero, tok, strlen(tok), NOW, NULL), GD_EINVAL);
    CHECK_INT(jwt_verify(NULL, KAT1, strlen(KAT1), NOW, NULL), GD_EINVAL);
}

TEST(claims_zeroed_on_failure)
{
    struct jwt_claims c;
    CHECK_INT(jwt_verify(&verifier, KAT1, strlen(KAT1), NOW, &c), GD_OK);
    CHECK_INT(jwt_verify(&verifier, KAT1, strlen(KAT1), NOW + 86400, &c), GD_EAUTH_EXPIRED);
    CHECK_STR(c.sub, "");
    CHECK_INT(c.exp, 0);
}

TEST(bearer_header)
{
    struct jwt_claims c;
    char h[256];
    snprintf(h, sizeof h, "Bearer %s", KAT1);
    CHECK_INT(jwt_verify_bearer(&verifier, h, NOW, &c), GD_OK);
    CHECK_STR(c.sub, "m-123");
    snprintf(h, sizeof h, "bEARER %s", KAT1); /* the scheme in any case (RFC 7235) */
    CHECK_INT(jwt_verify_bearer(&verifier, h, NOW, &c), GD_OK);
    CHECK_INT(jwt_verify_bearer(&verifier, NULL, NOW, &c), GD_EAUTH_MISSING);
    CHECK_STR(c.sub, "");
    snprintf(h, sizeof h, "Basic %s", KAT1);
    CHECK_INT(jwt_verify_bearer(&verifier, h, NOW, &c), GD_EAUTH_MALFORMED);
    CHECK_INT(jwt_verify_bearer(&verifier, KAT1, NOW, &c), GD_EAUTH_MALFORMED); /* no scheme */
    CHECK_INT(jwt_verify_bearer(&verifier, "Bearer", NOW, &c), GD_EAUTH_MALFORMED);
    CHECK_INT(jwt_verify_bearer(&verifier, "Bearer ", NOW, &c), GD_EAUTH_MALFORMED);
    /* After the scheme it is jwt_verify's verdict, code for code. */
    snprintf(h, sizeof h, "Bearer %s", KAT1);
    CHECK_INT(jwt_verify_bearer(&verifier, h, NOW + 86400, &c), GD_EAUTH_EXPIRED);
    snprintf(h, sizeof h, "Bearer  %s", KAT1); /* two spaces: the token starts with one */
    CHECK_INT(jwt_verify_bearer(&verifier, h, NOW, &c), GD_EAUTH_MALFORMED);
}

/* ---- key sets and rotation (kid) ---------------------------------------- */

#define KEY2       "second-rotation-secret-0123456789"
#define KEY3       "third-rotation-secret-abcdefghijk"
#define CLAIMS_OK  "{\"sub\":\"m-1\",\"exp\":1700003600}"
#define HDR_KID(k) "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"" k "\"}"

/* verify tok with v at NOW */
static int verify_with(const struct jwt_verifier *v, const char *tok)
{
    return jwt_verify(v, tok, strlen(tok), NOW, NULL);
}

TEST(keyset_parse)
{
    struct jwt_keyset ks;
    char why[200];
    CHECK_INT(jwt_keyset_parse("k1:" KEY ", k2:" KEY2, &ks, why, sizeof why), GD_OK);
    CHECK_INT(ks.n, 2);
    CHECK_STR(ks.keys[0].kid, "k1");
    CHECK_INT(ks.keys[0].len, KEY_LEN);
    CHECK(memcmp(ks.keys[0].secret, KEY, KEY_LEN) == 0);
    CHECK_STR(ks.keys[1].kid, "k2");
    CHECK_INT(ks.keys[1].len, strlen(KEY2));
    CHECK_STR(why, "");
    /* A file's form: lines, comments, blanks, CRLF; the secret keeps its inner ':'. */
    CHECK_INT(jwt_keyset_parse("# rotated 2026-12-01\r\n\n  new.1 : " KEY2 "\r\n"
                               "old_0:" KEY ":tail\n",
                               &ks, why, sizeof why),
              GD_ECONFIG); /* "new.1 " is not a kid: blanks only around the entry */
    CHECK_STR(why, "entry 1: the kid must be 1..64 characters of [A-Za-z0-9_.-]");
    CHECK_INT(ks.n, 0);
    CHECK_INT(jwt_keyset_parse("# rotated 2026-12-01\r\n\n  new.1:" KEY2 " \r\n"
                               "old_0:" KEY ":tail\n",
                               &ks, why, sizeof why),
              GD_OK);
    CHECK_INT(ks.n, 2);
    CHECK_STR(ks.keys[0].kid, "new.1");
    CHECK_INT(ks.keys[0].len, strlen(KEY2));
    CHECK_STR(ks.keys[1].kid, "old_0");
    CHECK_INT(ks.keys[1].len, KEY_LEN + 5);
    CHECK(memcmp(ks.keys[1].secret, KEY ":tail", KEY_LEN + 5) == 0);
    jwt_keyset_clear(&ks);
    CHECK_INT(ks.n, 0);
    CHECK_INT(ks.keys[1].secret[0], 0);
}

TEST(keyset_parse_refusals)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "no key (expected kid:secret entries)"},
        {" , \n# only a comment\n", "no key (expected kid:secret entries)"},
        {KEY, "entry 1: not kid:secret"},
        {"k1:" KEY ",k1:" KEY2, "entry 2: the kid is used twice"},
        {"k1:0123456789abcdef0123456789abcde", /* 31 bytes */
         "entry 1: the secret must be 32..512 bytes (refusing to verify tokens with a weak key)"},
        {":" KEY, "entry 1: the kid must be 1..64 characters of [A-Za-z0-9_.-]"},
        {"k/1:" KEY, "entry 1: the kid must be 1..64 characters of [A-Za-z0-9_.-]"},
        {"k1:" KEY ",k2:short", "entry 2: the secret must be 32..512 bytes (refusing to verify "
                                "tokens with a weak key)"},
        {"a:" KEY ",b:" KEY ",c:" KEY ",d:" KEY ",e:" KEY ",f:" KEY ",g:" KEY ",h:" KEY ",i:" KEY,
         "entry 9: more than 8 keys (JWT_MAX_KEYS)"},
    };
    struct jwt_keyset ks;
    char why[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(jwt_keyset_parse(bad[i].text, &ks, why, sizeof why), GD_ECONFIG);
        CHECK_STR(why, bad[i].why);
        CHECK_INT(ks.n, 0);
        /* The reason never quotes a secret. */
        CHECK(strstr(why, "0123456789") == NULL && strstr(why, "giftdrop") == NULL);
    }
    char kid65[80], text[700];
    memset(kid65, 'k', 65);
    kid65[65] = '\0';
    snprintf(text, sizeof text, "%s:%s", kid65, KEY);
    CHECK_INT(jwt_keyset_parse(text, &ks, NULL, 0), GD_ECONFIG);
    kid65[64] = '\0';
    snprintf(text, sizeof text, "%s:%s", kid65, KEY);
    CHECK_INT(jwt_keyset_parse(text, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_keyset_parse(NULL, &ks, why, sizeof why), GD_ECONFIG);
    CHECK_INT(jwt_keyset_parse("k:" KEY, NULL, why, sizeof why), GD_EINVAL);
}

/* The primary verifies tokens without kid; a kid picks its key; an unknown kid is refused. */
TEST(kid_selects_the_key)
{
    struct jwt_keyset ks;
    struct jwt_verifier v;
    char tok[1024];
    CHECK_INT(jwt_keyset_parse("k1:" KEY ",k2:" KEY2, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_init_keys(&v, &ks, NULL, NULL, 30), GD_OK);
    jwt_keyset_clear(&ks);

    CHECK_INT(verify_with(&v, craft_mac(tok, sizeof tok, HS256_HDR, CLAIMS_OK, EVP_sha256(), KEY)),
              GD_OK); /* no kid: the primary k1 */
    CHECK_INT(verify_with(&v, craft_mac(tok, sizeof tok, HS256_HDR, CLAIMS_OK, EVP_sha256(), KEY2)),
              GD_EAUTH_SIGNATURE); /* no kid is never tried against another key */
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("k2"), CLAIMS_OK, EVP_sha256(), KEY2)),
        GD_OK);
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("k1"), CLAIMS_OK, EVP_sha256(), KEY)),
        GD_OK);
    /* A kid names one key: the other key's signature does not pass under it. */
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("k1"), CLAIMS_OK, EVP_sha256(), KEY2)),
        GD_EAUTH_SIGNATURE);
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("k3"), CLAIMS_OK, EVP_sha256(), KEY3)),
        GD_EAUTH_KEY);
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("K1"), CLAIMS_OK, EVP_sha256(), KEY)),
        GD_EAUTH_KEY); /* kids are case-sensitive */
    /* kid must be a string of at most 64 bytes: else the header is malformed. */
    CHECK_INT(verify_with(&v, craft_mac(tok, sizeof tok, "{\"alg\":\"HS256\",\"kid\":1}", CLAIMS_OK,
                                        EVP_sha256(), KEY)),
              GD_EAUTH_MALFORMED);
    CHECK_INT(verify_with(&v, craft_mac(tok, sizeof tok, "{\"alg\":\"HS256\",\"kid\":null}",
                                        CLAIMS_OK, EVP_sha256(), KEY)),
              GD_EAUTH_MALFORMED);
    CHECK_INT(verify_with(&v, craft_mac(tok, sizeof tok,
                                        HDR_KID("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                                                "kkkkkkkkkkkkkkkkkkk"),
                                        CLAIMS_OK, EVP_sha256(), KEY)),
              GD_EAUTH_MALFORMED); /* 65 bytes */
    /* alg is checked before the key: kid does not open a door to "none". */
    CHECK_INT(
        verify_with(&v, craft(tok, sizeof tok, "{\"alg\":\"none\",\"kid\":\"k1\"}", CLAIMS_OK)),
        GD_EAUTH_ALG);
    /* The claims are checked after the key, as before. */
    CHECK_INT(
        verify_with(&v, craft_mac(tok, sizeof tok, HDR_KID("k2"),
                                  "{\"sub\":\"m-1\",\"exp\":1700000000}", EVP_sha256(), KEY2)),
        GD_EAUTH_EXPIRED);
    jwt_keyset_clear(&v.ks);
}

/* A single-secret configuration (one unnamed key) ignores kid, as before key ids. */
TEST(unnamed_key_ignores_kid)
{
    char tok[1024];
    CHECK_INT(verify(craft(tok, sizeof tok, HDR_KID("anything"), CLAIMS_OK)), GD_OK);
    CHECK_INT(
        verify(craft_mac(tok, sizeof tok, HDR_KID("anything"), CLAIMS_OK, EVP_sha256(), KEY2)),
        GD_EAUTH_SIGNATURE);
    /* One named key is a list: its kid counts. */
    struct jwt_keyset ks;
    struct jwt_verifier v;
    CHECK_INT(jwt_keyset_parse("only:" KEY, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_init_keys(&v, &ks, NULL, NULL, 30), GD_OK);
    CHECK_INT(verify_with(&v, craft(tok, sizeof tok, HDR_KID("anything"), CLAIMS_OK)),
              GD_EAUTH_KEY);
    CHECK_INT(verify_with(&v, craft(tok, sizeof tok, HDR_KID("only"), CLAIMS_OK)), GD_OK);
    CHECK_INT(verify_with(&v, craft(tok, sizeof tok, HS256_HDR, CLAIMS_OK)), GD_OK);
}

/* The rotation an operator runs: add, switch the primary, remove. */
TEST(rotation_sequence)
{
    struct jwt_keyset ks;
    struct jwt_verifier v;
    char old_kid[1024], new_kid[1024], old_plain[1024], new_plain[1024];
    craft_mac(old_kid, sizeof old_kid, HDR_KID("k1"), CLAIMS_OK, EVP_sha256(), KEY);
    craft_mac(new_kid, sizeof new_kid, HDR_KID("k2"), CLAIMS_OK, EVP_sha256(), KEY2);
    craft_mac(old_plain, sizeof old_plain, HS256_HDR, CLAIMS_OK, EVP_sha256(), KEY);
    craft_mac(new_plain, sizeof new_plain, HS256_HDR, CLAIMS_OK, EVP_sha256(), KEY2);

    CHECK_INT(jwt_keyset_parse("k1:" KEY, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_init_keys(&v, &ks, "iss-x", "aud-y", 7), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_EAUTH_CLAIMS); /* iss is checked: kept below */
    CHECK_INT(jwt_verifier_init_keys(&v, &ks, NULL, NULL, 30), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_OK);
    CHECK_INT(verify_with(&v, new_kid), GD_EAUTH_KEY);

    /* 1. add k2 behind the primary */
    CHECK_INT(jwt_keyset_parse("k1:" KEY ",k2:" KEY2, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_set_keys(&v, &ks), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_OK);
    CHECK_INT(verify_with(&v, old_plain), GD_OK);
    CHECK_INT(verify_with(&v, new_kid), GD_OK);
    CHECK_INT(verify_with(&v, new_plain), GD_EAUTH_SIGNATURE);
    /* 2. k2 becomes the primary */
    CHECK_INT(jwt_keyset_parse("k2:" KEY2 ",k1:" KEY, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_set_keys(&v, &ks), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_OK);
    CHECK_INT(verify_with(&v, new_kid), GD_OK);
    CHECK_INT(verify_with(&v, new_plain), GD_OK);
    CHECK_INT(verify_with(&v, old_plain), GD_EAUTH_SIGNATURE);
    /* 3. k1 removed: its tokens are refused */
    CHECK_INT(jwt_keyset_parse("k2:" KEY2, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_set_keys(&v, &ks), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_EAUTH_KEY);
    CHECK_INT(verify_with(&v, new_kid), GD_OK);
    CHECK_INT(verify_with(&v, new_plain), GD_OK);
    CHECK_INT(verify_with(&v, old_plain), GD_EAUTH_SIGNATURE);
    CHECK_INT(v.leeway_s, 30); /* settings other than the keys stay */

    /* A refused set leaves the keys in force. */
    struct jwt_keyset bad;
    memset(&bad, 0, sizeof bad);
    CHECK_INT(jwt_verifier_set_keys(&v, &bad), GD_ECONFIG); /* no key */
    CHECK_INT(jwt_keyset_parse("a:" KEY ",b:" KEY2, &bad, NULL, 0), GD_OK);
    snprintf(bad.keys[1].kid, sizeof bad.keys[1].kid, "a"); /* a kid twice */
    CHECK_INT(jwt_verifier_set_keys(&v, &bad), GD_ECONFIG);
    bad.keys[1].kid[0] = '\0'; /* unnamed beside a named key */
    CHECK_INT(jwt_verifier_set_keys(&v, &bad), GD_ECONFIG);
    snprintf(bad.keys[1].kid, sizeof bad.keys[1].kid, "b");
    bad.keys[1].len = 31;
    CHECK_INT(jwt_verifier_set_keys(&v, &bad), GD_ECONFIG);
    CHECK_INT(jwt_verifier_set_keys(NULL, &bad), GD_EINVAL);
    CHECK_INT(jwt_verifier_set_keys(&v, NULL), GD_EINVAL);
    CHECK_INT(v.ks.n, 1);
    CHECK_INT(verify_with(&v, new_kid), GD_OK);
    CHECK_INT(verify_with(&v, old_kid), GD_EAUTH_KEY);
    jwt_keyset_clear(&ks);
    jwt_keyset_clear(&bad);
}

TEST(sign_with_kid)
{
    struct jwt_keyset ks;
    struct jwt_verifier v;
    char tok[1024], hdr[128];
    int n = jwt_sign_hs256_kid(KEY2, strlen(KEY2), "k2", "m-9", NOW, NOW + 60, NULL, NULL, tok,
                               sizeof tok);
    CHECK(n > 0);
    int h = b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), (unsigned char *)hdr, sizeof hdr);
    CHECK(h > 0);
    hdr[h > 0 ? h : 0] = '\0';
    CHECK_STR(hdr, HDR_KID("k2"));
    CHECK_INT(jwt_keyset_parse("k1:" KEY ",k2:" KEY2, &ks, NULL, 0), GD_OK);
    CHECK_INT(jwt_verifier_init_keys(&v, &ks, NULL, NULL, 30), GD_OK);
    CHECK_INT(verify_with(&v, tok), GD_OK);
    /* NULL or "" kid: the plain header, byte for byte jwt_sign_hs256's */
    char plain[1024];
    CHECK_INT(jwt_sign_hs256_kid(KEY, KEY_LEN, "", "m-123", 1700000000, 1700003600, NULL, NULL,
                                 plain, sizeof plain),
              (int)strlen(KAT1));
    CHECK_STR(plain, KAT1);
    CHECK_INT(
        jwt_sign_hs256_kid(KEY, KEY_LEN, "bad kid", "m", NOW, NOW + 1, NULL, NULL, tok, sizeof tok),
        GD_EINVAL);
    jwt_keyset_clear(&ks);
    jwt_keyset_clear(&v.ks);
}

int main(void)
{
    init_verifier();
    RUN(b64url_known_vectors);
    RUN(b64url_strict);
    RUN(known_answer_verifies);
    RUN(sign_matches_known_answer);
    RUN(sign_verify_round_trip);
    RUN(sign_refusals);
    RUN(alg_none);
    RUN(alg_swaps);
    RUN(alg_spelling);
    RUN(crit_header);
    RUN(flipped_char_in_each_segment);
    RUN(wrong_signatures);
    RUN(checks_run_in_order);
    RUN(expiry);
    RUN(not_yet_valid);
    RUN(numeric_claims_must_be_integers);
    RUN(sub_rules);
    RUN(nul_byte_in_claims);
    RUN(malformed_base64);
    RUN(segment_count);
    RUN(token_length_bound);
    RUN(header_not_a_json_object);
    RUN(issuer_and_audience);
    RUN(verifier_init_rules);
    RUN(refused_verifier_accepts_nothing);
    RUN(claims_zeroed_on_failure);
    RUN(bearer_header);
    RUN(keyset_parse);
    RUN(keyset_parse_refusals);
    RUN(kid_selects_the_key);
    RUN(unnamed_key_ignores_kid);
    RUN(rotation_sequence);
    RUN(sign_with_kid);
    return TEST_DONE();
}
