/*
 * jwt.c - HS256 JSON Web Tokens (RFC 7519 / RFC 7515), verified with OpenSSL
 * HMAC-SHA256 and a strict base64url decoder.
 *
 * The order of checks is part of the contract and is what the attack tests pin:
 *   1. shape: length <= JWT_MAX_TOKEN, exactly three non-empty segments, each
 *      strict base64url (all of this is "malformed");
 *   2. header: a JSON object, no "crit", "alg" exactly "HS256", "typ" "JWT" if
 *      present.  The header is read only to refuse anything but HS256: the
 *      algorithm is never chosen by the token;
 *   3. key: the header's "kid" picks one of the keys in force (key rotation),
 *      none picks the primary; still one HMAC per token;
 *   4. signature: HMAC-SHA256 over "header.payload", compared in constant time;
 *   5. only then the claims are parsed and examined.
 */
#include "jwt.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"

#define JWT_SIG_LEN 32 /* HMAC-SHA256 output */
/* A decoded segment is never longer than 3/4 of the whole token. */
#define JWT_MAX_DECODED (JWT_MAX_TOKEN / 4 * 3 + 3)
/* Numeric claims must be integers a double holds exactly (|x| <= 2^53). */
#define JWT_MAX_NUMERIC     9007199254740992.0
#define JWT_MAX_NUMERIC_INT INT64_C(9007199254740992)

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of one base64url character, or -1 for anything outside the alphabet. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_cap)
{
    if (in == NULL || in_len > INT_MAX || (out == NULL && out_cap > 0))
        return -1;
    /* One leftover character carries only 6 bits: never a whole byte. */
    if (in_len % 4 == 1)
        return -1;
    size_t need = in_len / 4 * 3 + (in_len % 4 ? in_len % 4 - 1 : 0);
    if (need > out_cap)
        return -1;

    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Canonical encodings leave the unused trailing bits zero (RFC 4648 3.5). */
    if (acc != 0)
        return -1;
    return (int)o;
}

int b64url_encode(const unsigned char *in, size_t in_len, char *out, size_t out_cap)
{
    if (out == NULL || (in == NULL && in_len > 0) || in_len > (size_t)(INT_MAX - 4) / 4 * 3)
        return -1;
    size_t need = in_len / 3 * 4 + (in_len % 3 ? in_len % 3 + 1 : 0);
    if (need + 1 > out_cap)
        return -1;

    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= in_len; i += 3) {
        uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[n >> 18 & 63];
        out[o++] = b64url_alphabet[n >> 12 & 63];
        out[o++] = b64url_alphabet[n >> 6 & 63];
        out[o++] = b64url_alphabet[n & 63];
    }
    if (in_len - i == 1) {
        uint32_t n = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[n >> 18 & 63];
        out[o++] = b64url_alphabet[n >> 12 & 63];
    } else if (in_len - i == 2) {
        uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[n >> 18 & 63];
        out[o++] = b64url_alphabet[n >> 12 & 63];
        out[o++] = b64url_alphabet[n >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

/* kid is 1..JWT_MAX_KID characters of [A-Za-z0-9_.-] (the same alphabet as sub). */
static bool kid_is_valid(const char *kid, size_t n);

int jwt_keyset_single(struct jwt_keyset *out, const void *secret, size_t len)
{
    if (out == NULL)
        return GD_EINVAL;
    memset(out, 0, sizeof *out);
    if (secret == NULL || len < JWT_MIN_KEY || len > JWT_MAX_KEY)
        return GD_ECONFIG;
    memcpy(out->keys[0].secret, secret, len);
    out->keys[0].len = len;
    out->n = 1;
    return GD_OK;
}

void jwt_keyset_clear(struct jwt_keyset *ks)
{
    if (ks != NULL)
        OPENSSL_cleanse(ks, sizeof *ks);
}

static void why_set(char *why, size_t why_len, int entry, const char *detail)
{
    if (why != NULL && why_len > 0 && entry > 0)
        snprintf(why, why_len, "entry %d: %s", entry, detail);
    else if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", detail);
}

/* One "kid:secret" entry of entry_len bytes (blanks already trimmed) into ks. */
static int keyset_add(struct jwt_keyset *ks, const char *entry, size_t entry_len, int nth,
                      char *why, size_t why_len)
{
    const char *colon = memchr(entry, ':', entry_len);
    if (ks->n == JWT_MAX_KEYS) {
        why_set(why, why_len, nth, "more than 8 keys (JWT_MAX_KEYS)");
        return GD_ECONFIG;
    }
    if (colon == NULL) {
        why_set(why, why_len, nth, "not kid:secret");
        return GD_ECONFIG;
    }
    size_t kid_len = (size_t)(colon - entry), len = entry_len - kid_len - 1;
    if (!kid_is_valid(entry, kid_len)) {
        why_set(why, why_len, nth, "the kid must be 1..64 characters of [A-Za-z0-9_.-]");
        return GD_ECONFIG;
    }
    for (int i = 0; i < ks->n; i++)
        if (strlen(ks->keys[i].kid) == kid_len && memcmp(ks->keys[i].kid, entry, kid_len) == 0) {
            why_set(why, why_len, nth, "the kid is used twice");
            return GD_ECONFIG;
        }
    if (len < JWT_MIN_KEY || len > JWT_MAX_KEY) {
        why_set(why, why_len, nth,
                "the secret must be 32..512 bytes (refusing to verify tokens with a weak key)");
        return GD_ECONFIG;
    }
    struct jwt_key *k = &ks->keys[ks->n++];
    memcpy(k->kid, entry, kid_len);
    k->kid[kid_len] = '\0';
    memcpy(k->secret, colon + 1, len);
    k->len = len;
    return GD_OK;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int jwt_keyset_parse(const char *text, struct jwt_keyset *out, char *why, size_t why_len)
{
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (out == NULL)
        return GD_EINVAL;
    memset(out, 0, sizeof *out);
    if (text == NULL) {
        why_set(why, why_len, 0, "no key (expected kid:secret entries)");
        return GD_ECONFIG;
    }
    int nth = 0;
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, ",\n");
        const char *b = p, *e = p + n;
        p = *e != '\0' ? e + 1 : e;
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        if (b == e || *b == '#')
            continue;
        if (keyset_add(out, b, (size_t)(e - b), ++nth, why, why_len) != GD_OK) {
            jwt_keyset_clear(out);
            return GD_ECONFIG;
        }
    }
    if (out->n == 0) {
        why_set(why, why_len, 0, "no key (expected kid:secret entries)");
        return GD_ECONFIG;
    }
    return GD_OK;
}

/* The rules of jwt_verifier_set_keys, for a set that did not come from the parser. */
static bool keyset_is_valid(const struct jwt_keyset *ks)
{
    if (ks->n < 1 || ks->n > JWT_MAX_KEYS)
        return false;
    for (int i = 0; i < ks->n; i++) {
        const struct jwt_key *k = &ks->keys[i];
        size_t kid_len = strnlen(k->kid, sizeof k->kid);
        if (k->len < JWT_MIN_KEY || k->len > JWT_MAX_KEY || kid_len > JWT_MAX_KID)
            return false;
        if (kid_len == 0 ? ks->n != 1 : !kid_is_valid(k->kid, kid_len))
            return false;
        for (int j = 0; j < i; j++)
            if (strcmp(ks->keys[j].kid, k->kid) == 0)
                return false;
    }
    return true;
}

int jwt_verifier_set_keys(struct jwt_verifier *v, const struct jwt_keyset *ks)
{
    if (v == NULL || ks == NULL)
        return GD_EINVAL;
    if (!keyset_is_valid(ks))
        return GD_ECONFIG;
    jwt_keyset_clear(&v->ks);
    v->ks = *ks;
    return GD_OK;
}

int jwt_verifier_init_keys(struct jwt_verifier *v, const struct jwt_keyset *ks, const char *iss,
                           const char *aud, int leeway_s)
{
    if (v == NULL)
        return GD_EINVAL;
    /* Zeroed first, so a refused verifier has no key and verifies nothing. */
    memset(v, 0, sizeof *v);
    if (ks == NULL || !keyset_is_valid(ks))
        return GD_ECONFIG;
    if (iss != NULL && strlen(iss) >= sizeof v->iss)
        return GD_ECONFIG;
    if (aud != NULL && strlen(aud) >= sizeof v->aud)
        return GD_ECONFIG;
    if (leeway_s < 0)
        return GD_ECONFIG;

    v->ks = *ks;
    if (iss != NULL)
        strcpy(v->iss, iss);
    if (aud != NULL)
        strcpy(v->aud, aud);
    v->leeway_s = leeway_s;
    return GD_OK;
}

int jwt_verifier_init(struct jwt_verifier *v, const void *key, size_t key_len, const char *iss,
                      const char *aud, int leeway_s)
{
    struct jwt_keyset ks;
    if (v == NULL)
        return GD_EINVAL;
    memset(v, 0, sizeof *v);
    int rc = jwt_keyset_single(&ks, key, key_len);
    if (rc == GD_OK)
        rc = jwt_verifier_init_keys(v, &ks, iss, aud, leeway_s);
    jwt_keyset_clear(&ks);
    return rc;
}

/* Every one of s[0..n) is in [A-Za-z0-9_.-]. */
static bool id_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* sub is 1..JWT_MAX_SUB characters of [A-Za-z0-9_.-]. */
static bool sub_is_valid(const char *sub)
{
    size_t n = strlen(sub);
    return n >= 1 && n <= JWT_MAX_SUB && id_chars(sub, n);
}

static bool kid_is_valid(const char *kid, size_t n)
{
    return n >= 1 && n <= JWT_MAX_KID && id_chars(kid, n);
}

/*
 * cJSON keeps strings NUL-terminated, so a raw NUL byte or a \u0000 escape
 * would silently cut a claim short ("alice\u0000admin" read as "alice").
 * Such documents are refused outright.
 */
static bool json_has_nul(const unsigned char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return true;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 6 <= len && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character, so "\\u0000" is not a false hit */
    }
    return false;
}

/* Parse a decoded segment as a JSON object; NULL if it is anything else. */
static cJSON *parse_object(const unsigned char *s, size_t len)
{
    if (json_has_nul(s, len))
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)s, len, &end, false);
    if (j == NULL)
        return NULL;
    /* cJSON stops after the first value; anything but whitespace after it is garbage. */
    for (const char *p = end; p < (const char *)s + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(j);
            return NULL;
        }
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/*
 * Read an integer NumericDate.  Returns 1 and sets *out when present and an
 * integer, 0 when absent, -1 when present but not an integer (a string, a
 * fraction, beyond 2^53, 1e999).
 */
static int int_claim(const cJSON *claims, const char *name, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, name);
    if (item == NULL)
        return 0;
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    /* The range test also refuses NaN and infinities. */
    if (!(d >= -JWT_MAX_NUMERIC && d <= JWT_MAX_NUMERIC))
        return -1;
    int64_t n = (int64_t)d;
    if ((double)n != d)
        return -1;
    *out = n;
    return 1;
}

/* aud may be a string or an array of strings; true when any equals want. */
static bool aud_matches(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    const cJSON *el;
    cJSON_ArrayForEach(el, aud)
    {
        if (cJSON_IsString(el) && strcmp(el->valuestring, want) == 0)
            return true;
    }
    return false;
}

/* Header rules: object (checked by the caller), no crit, alg HS256, typ JWT if present. */
static int check_header(const cJSON *hdr)
{
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL)
        return GD_EAUTH_MALFORMED; /* we understand no extension, so none may be critical */
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
        return GD_EAUTH_ALG;
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(hdr, "typ");
    if (typ != NULL && (!cJSON_IsString(typ) || strcmp(typ->valuestring, "JWT") != 0))
        return GD_EAUTH_ALG;
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (kid != NULL && (!cJSON_IsString(kid) || strlen(kid->valuestring) > JWT_MAX_KID))
        return GD_EAUTH_MALFORMED;
    return GD_OK;
}

/*
 * The key a token is checked with (jwt.h): the primary for a token without
 * kid, else the key of its kid; an unknown kid is GD_EAUTH_KEY unless the
 * only key is unnamed (a single-secret configuration ignores kids).
 */
static int select_key(const struct jwt_verifier *v, const cJSON *hdr, const struct jwt_key **out)
{
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    *out = &v->ks.keys[0];
    if (kid == NULL || v->ks.keys[0].kid[0] == '\0')
        return GD_OK;
    for (int i = 0; i < v->ks.n; i++)
        if (strcmp(v->ks.keys[i].kid, kid->valuestring) == 0) {
            *out = &v->ks.keys[i];
            return GD_OK;
        }
    return GD_EAUTH_KEY;
}

/* Claim rules, once the signature has verified.  Fills *c on success. */
static int check_claims(const struct jwt_verifier *v, const cJSON *claims, int64_t now,
                        struct jwt_claims *c)
{
    if (int_claim(claims, "exp", &c->exp) != 1)
        return GD_EAUTH_CLAIMS;
    if (int_claim(claims, "nbf", &c->nbf) < 0 || int_claim(claims, "iat", &c->iat) < 0)
        return GD_EAUTH_CLAIMS;

    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    if (!cJSON_IsString(sub) || !sub_is_valid(sub->valuestring))
        return GD_EAUTH_CLAIMS;
    strcpy(c->sub, sub->valuestring); /* length checked by sub_is_valid */

    if (v->iss[0] != '\0') {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, v->iss) != 0)
            return GD_EAUTH_CLAIMS;
    }
    if (v->aud[0] != '\0' && !aud_matches(cJSON_GetObjectItemCaseSensitive(claims, "aud"), v->aud))
        return GD_EAUTH_CLAIMS;

    /*
     * Leeway is applied on the claim side: claims are within +-2^53 and the
     * leeway within int, so none of these can overflow whatever now is.
     */
    int64_t leeway = v->leeway_s;
    if (now >= c->exp + leeway)
        return GD_EAUTH_EXPIRED;
    if (c->nbf != 0 && c->nbf - leeway > now)
        return GD_EAUTH_NOT_YET;
    if (c->iat != 0 && c->iat - leeway > now)
        return GD_EAUTH_NOT_YET;
    return GD_OK;
}

/* Constant-time HMAC-SHA256 check of sig over signed[0..signed_len). */
static int check_signature(const struct jwt_key *k, const char *signed_part, size_t signed_len,
                           const unsigned char *sig, size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    int rc = GD_EAUTH_SIGNATURE;

    if (HMAC(EVP_sha256(), k->secret, (int)k->len, (const unsigned char *)signed_part, signed_len,
             mac, &mac_len) == NULL) {
        rc = GD_ENOMEM;
        goto out;
    }
    /* The length is public (it is in the token); only the bytes need constant time. */
    if (mac_len == JWT_SIG_LEN && sig_len == JWT_SIG_LEN && CRYPTO_memcmp(mac, sig, sig_len) == 0)
        rc = GD_OK;
out:
    /* mac is a valid signature for whatever the caller sent: do not leave it around. */
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now,
               struct jwt_claims *out)
{
    unsigned char hdr_raw[JWT_MAX_DECODED];
    unsigned char claims_raw[JWT_MAX_DECODED];
    unsigned char sig[JWT_MAX_DECODED];
    struct jwt_claims c;
    cJSON *hdr = NULL;
    cJSON *claims = NULL;
    int rc = GD_EAUTH_MALFORMED;

    memset(&c, 0, sizeof c);
    if (out != NULL)
        memset(out, 0, sizeof *out);
    /* Fail closed: an uninitialised or refused verifier never accepts anything. */
    if (v == NULL || v->ks.n < 1 || v->ks.n > JWT_MAX_KEYS)
        return GD_EINVAL;
    if (token == NULL || len == 0 || len > JWT_MAX_TOKEN)
        return GD_EAUTH_MALFORMED;

    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        goto done;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        goto done;
    size_t hdr_len = (size_t)(dot1 - token);
    size_t claims_len = (size_t)(dot2 - dot1 - 1);
    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    if (hdr_len == 0 || claims_len == 0 || sig_len == 0)
        goto done;

    int hdr_n = b64url_decode(token, hdr_len, hdr_raw, sizeof hdr_raw);
    int claims_n = b64url_decode(dot1 + 1, claims_len, claims_raw, sizeof claims_raw);
    int sig_n = b64url_decode(dot2 + 1, sig_len, sig, sizeof sig);
    if (hdr_n <= 0 || claims_n <= 0 || sig_n <= 0)
        goto done;

    hdr = parse_object(hdr_raw, (size_t)hdr_n);
    if (hdr == NULL)
        goto done;
    rc = check_header(hdr);
    if (rc != GD_OK)
        goto done;
    const struct jwt_key *key = NULL;
    rc = select_key(v, hdr, &key);
    if (rc != GD_OK)
        goto done;

    rc = check_signature(key, token, (size_t)(dot2 - token), sig, (size_t)sig_n);
    if (rc != GD_OK)
        goto done;

    claims = parse_object(claims_raw, (size_t)claims_n);
    if (claims == NULL) {
        rc = GD_EAUTH_MALFORMED;
        goto done;
    }
    rc = check_claims(v, claims, now, &c);
    if (rc == GD_OK && out != NULL)
        *out = c;
done:
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}

/* Append s to out[*pos..cap) as a JSON string literal; false when it does not fit. */
static bool append_json_string(char *out, size_t cap, size_t *pos, const char *s)
{
    char tmp[8];
    size_t p = *pos;

    if (p >= cap)
        return false;
    out[p++] = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        const char *piece = tmp;
        if (*c == '"')
            piece = "\\\"";
        else if (*c == '\\')
            piece = "\\\\";
        else if (*c < 0x20)
            snprintf(tmp, sizeof tmp, "\\u%04x", *c);
        else {
            tmp[0] = (char)*c;
            tmp[1] = '\0';
        }
        size_t n = strlen(piece);
        if (n >= cap - p)
            return false;
        memcpy(out + p, piece, n);
        p += n;
    }
    if (p + 1 >= cap)
        return false;
    out[p++] = '"';
    out[p] = '\0';
    *pos = p;
    return true;
}

/* Build the claims JSON into buf; false when it does not fit. */
static bool build_claims(char *buf, size_t cap, const char *sub, int64_t iat, int64_t exp,
                         const char *iss, const char *aud)
{
    size_t pos = 0;
    int n = snprintf(buf, cap, "{\"sub\":\"%s\"", sub); /* sub is [A-Za-z0-9_.-] only */
    if (n < 0 || (size_t)n >= cap)
        return false;
    pos = (size_t)n;
    if (iss != NULL && iss[0] != '\0') {
        n = snprintf(buf + pos, cap - pos, ",\"iss\":");
        if (n < 0 || (size_t)n >= cap - pos)
            return false;
        pos += (size_t)n;
        if (!append_json_string(buf, cap, &pos, iss))
            return false;
    }
    if (aud != NULL && aud[0] != '\0') {
        n = snprintf(buf + pos, cap - pos, ",\"aud\":");
        if (n < 0 || (size_t)n >= cap - pos)
            return false;
        pos += (size_t)n;
        if (!append_json_string(buf, cap, &pos, aud))
            return false;
    }
    if (iat != 0) {
        n = snprintf(buf + pos, cap - pos, ",\"iat\":%lld", (long long)iat);
        if (n < 0 || (size_t)n >= cap - pos)
            return false;
        pos += (size_t)n;
    }
    n = snprintf(buf + pos, cap - pos, ",\"exp\":%lld}", (long long)exp);
    return n >= 0 && (size_t)n < cap - pos;
}

int jwt_sign_hs256(const void *key, size_t key_len, const char *sub, int64_t iat, int64_t exp,
                   const char *iss, const char *aud, char *out, size_t out_len)
{
    return jwt_sign_hs256_kid(key, key_len, NULL, sub, iat, exp, iss, aud, out, out_len);
}

int jwt_sign_hs256_kid(const void *key, size_t key_len, const char *kid, const char *sub,
                       int64_t iat, int64_t exp, const char *iss, const char *aud, char *out,
                       size_t out_len)
{
    char header[128] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[1024];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    int rc = GD_ETOOBIG;

    if (key == NULL || key_len < JWT_MIN_KEY || key_len > JWT_MAX_KEY || out == NULL)
        return GD_EINVAL;
    if (sub == NULL || !sub_is_valid(sub))
        return GD_EINVAL;
    if (kid != NULL && kid[0] != '\0') {
        if (!kid_is_valid(kid, strlen(kid)))
            return GD_EINVAL;
        /* kid is [A-Za-z0-9_.-] only: nothing to escape */
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    }
    if (iat < -JWT_MAX_NUMERIC_INT || iat > JWT_MAX_NUMERIC_INT || exp < -JWT_MAX_NUMERIC_INT ||
        exp > JWT_MAX_NUMERIC_INT)
        return GD_EINVAL; /* jwt_verify would refuse them */
    if (!build_claims(claims, sizeof claims, sub, iat, exp, iss, aud))
        return GD_ETOOBIG;

    int n = b64url_encode((const unsigned char *)header, strlen(header), out, out_len);
    if (n < 0 || (size_t)n + 1 >= out_len)
        goto done;
    size_t pos = (size_t)n;
    out[pos++] = '.';
    n = b64url_encode((const unsigned char *)claims, strlen(claims), out + pos, out_len - pos);
    if (n < 0)
        goto done;
    pos += (size_t)n;

    if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)out, pos, mac, &mac_len) ==
        NULL) {
        rc = GD_ENOMEM;
        goto done;
    }
    if (pos + 1 >= out_len)
        goto done;
    out[pos++] = '.';
    n = b64url_encode(mac, mac_len, out + pos, out_len - pos);
    if (n < 0)
        goto done;
    pos += (size_t)n;
    if (pos > INT_MAX)
        goto done;
    rc = (int)pos;
done:
    OPENSSL_cleanse(mac, sizeof mac);
    if (rc < 0 && out_len > 0)
        out[0] = '\0';
    return rc;
}

int jwt_verify_bearer(const struct jwt_verifier *v, const char *authorization, int64_t now,
                      struct jwt_claims *out)
{
    int rc = !authorization                                  ? GD_EAUTH_MISSING
             : strncasecmp(authorization, "Bearer ", 7) != 0 ? GD_EAUTH_MALFORMED
                                                             : GD_OK;
    if (rc != GD_OK) {
        if (out)
            memset(out, 0, sizeof(*out));
        return rc;
    }
    return jwt_verify(v, authorization + 7, strlen(authorization + 7), now, out);
}
