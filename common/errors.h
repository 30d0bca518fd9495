/*
 * errors.h - the one list of giftdrop error codes.
 *
 * Fallible functions return 0 (GD_OK) or one of the negative codes below.
 * err_str() gives the human message for any code; codes that can reach a
 * client also map to an HTTP status and a stable problem "code" in
 * problem.c.  A unit test checks every code has a message.
 */
#ifndef GD_ERRORS_H
#define GD_ERRORS_H

/* X(name, value, message) */
#define GD_ERROR_LIST(X)                                                                           \
    X(GD_OK, 0, "success")                                                                         \
    X(GD_ENOMEM, -1, "out of memory")                                                              \
    X(GD_EINVAL, -2, "invalid argument")                                                           \
    X(GD_ECONFIG, -3, "invalid configuration")                                                     \
    X(GD_ETIMEOUT, -4, "operation timed out")                                                      \
    X(GD_ESTOPPED, -5, "stop requested")                                                           \
    X(GD_EIO, -6, "input/output error")                                                            \
    X(GD_ETOOBIG, -7, "value too large")                                                           \
    X(GD_ENOTFOUND, -8, "not found")                                                               \
    /* AMQP */                                                                                     \
    X(GD_EAMQP_CONNECT, -20, "cannot connect to the broker")                                       \
    X(GD_EAMQP_CLOSED, -21, "broker connection closed")                                            \
    X(GD_EAMQP_CHANNEL, -22, "broker closed the channel")                                          \
    X(GD_EAMQP_NACK, -23, "broker refused the message (nack)")                                     \
    X(GD_EAMQP_RETURNED, -24, "message was not routed to any queue")                               \
    X(GD_EAMQP_PROTOCOL, -25, "unexpected AMQP frame")                                             \
    X(GD_EAMQP_BLOCKED, -26, "broker is blocking publishers (resource alarm)")                     \
    /* Redis */                                                                                    \
    X(GD_EREDIS_CONNECT, -40, "cannot connect to Redis")                                           \
    X(GD_EREDIS_IO, -41, "Redis connection failed")                                                \
    X(GD_EREDIS_REPLY, -42, "unexpected reply from Redis")                                         \
    /* PostgreSQL */                                                                               \
    X(GD_EPG_CONNECT, -60, "cannot connect to PostgreSQL")                                         \
    X(GD_EPG_QUERY, -61, "PostgreSQL query failed")                                                \
    X(GD_EPG_CONFLICT, -62, "PostgreSQL constraint conflict")                                      \
    /* Input */                                                                                    \
    X(GD_EJSON, -80, "malformed JSON")                                                             \
    X(GD_EMESSAGE, -81, "message does not match its schema")                                       \
    X(GD_EANSWERS, -82, "answers do not fit the survey")                                           \
    X(GD_ESURVEY, -83, "survey definition is invalid")                                             \
    /* Authentication */                                                                           \
    X(GD_EAUTH_MISSING, -100, "bearer token missing")                                              \
    X(GD_EAUTH_MALFORMED, -101, "token is malformed")                                              \
    X(GD_EAUTH_ALG, -102, "token algorithm not accepted")                                          \
    X(GD_EAUTH_SIGNATURE, -103, "token signature does not verify")                                 \
    X(GD_EAUTH_EXPIRED, -104, "token expired")                                                     \
    X(GD_EAUTH_NOT_YET, -105, "token not valid yet")                                               \
    X(GD_EAUTH_CLAIMS, -106, "token claims are missing or invalid")                                \
    X(GD_EAUTH_KEY, -107, "token names a key id (kid) that is not configured")                     \
    /* Provider */                                                                                 \
    X(GD_EPROVIDER_TRANSIENT, -120, "provider failed, retry later")                                \
    X(GD_EPROVIDER_PERMANENT, -121, "provider refused the message")                                \
    X(GD_ENO_COUPON, -122, "coupon pool exhausted")

enum gd_err {
#define GD_ERR_ENUM(name, value, msg) name = value,
    GD_ERROR_LIST(GD_ERR_ENUM)
#undef GD_ERR_ENUM
};

/* Message for a code; never NULL ("unknown error" for codes not in the list). */
const char *err_str(int code);

/* Symbolic name ("GD_EAMQP_NACK"), for logs and tests; never NULL. */
const char *err_name(int code);

#endif
