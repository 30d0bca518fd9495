/*
 * notify_winners - publish winner.v1 messages straight to event.winner, as
 * the stock-consumer would, so the notifier can be tested and measured on
 * its own: N winners of an existing event (created and seeded with
 * eventctl, so the coupon pool exists), persistent, with publisher confirms.
 *
 *   notify_winners --event ID --count N [--first K] [--prefix m-]
 *                  [--kakao-percent P] [--not-kakao-every N] [--invalid-every N]
 *                  [--window W] [--out FILE]
 *   notify_winners --event ID --replay FILE    the winners of an --out FILE
 *                  again, same entry ids (a redelivery / republish)
 *
 * Winner i (K <= i < K+N) is member PREFIX<i> with seq i, channel kakao for
 * the first P % of every hundred, phone +8210<i:08>; every N-th KakaoTalk
 * winner gets +8298<i:08> (the fake provider's "not a KakaoTalk user"
 * prefix) and every N-th winner +8299<i:08> (an invalid number).  --out
 * writes "member entry_id channel phone" lines.  Prints one JSON line:
 * {"published":N,"seconds":S,"per_second":R}.  AMQP_URL as everywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "messages.h"
#include "rmq.h"
#include "timeutil.h"
#include "topology.h"
#include "uuid.h"

struct args {
    long long event;
    long count, first, kakao_pct, not_kakao_every, invalid_every, window;
    const char *prefix, *out, *replay;
};

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    long ev = 0;
    memset(a, 0, sizeof(*a));
    a->first = 1;
    a->kakao_pct = 50;
    a->window = 1000;
    a->prefix = "m-";
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(k, "--event") == 0)
            bad = parse_long(v, 1, 1L << 62, &ev);
        else if (strcmp(k, "--count") == 0)
            bad = parse_long(v, 1, 10000000, &a->count);
        else if (strcmp(k, "--first") == 0)
            bad = parse_long(v, 1, 90000000, &a->first);
        else if (strcmp(k, "--kakao-percent") == 0)
            bad = parse_long(v, 0, 100, &a->kakao_pct);
        else if (strcmp(k, "--not-kakao-every") == 0)
            bad = parse_long(v, 0, 10000000, &a->not_kakao_every);
        else if (strcmp(k, "--invalid-every") == 0)
            bad = parse_long(v, 0, 10000000, &a->invalid_every);
        else if (strcmp(k, "--window") == 0)
            bad = parse_long(v, 1, 100000, &a->window);
        else if (strcmp(k, "--prefix") == 0 && v)
            a->prefix = v;
        else if (strcmp(k, "--out") == 0 && v)
            a->out = v;
        else if (strcmp(k, "--replay") == 0 && v)
            a->replay = v;
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "notify_winners: bad or missing value for %s\n", k);
            return -1;
        }
    }
    a->event = ev;
    if (!a->event || (!a->count == !a->replay)) {
        fprintf(stderr, "usage: notify_winners --event ID --count N [--first K] [--prefix P]"
                        " [--kakao-percent P] [--not-kakao-every N] [--invalid-every N]"
                        " [--window W] [--out FILE]\n"
                        "       notify_winners --event ID --replay FILE\n");
        return -1;
    }
    return 0;
}

/* Winner number i of the run, as described at the top. */
static void make_winner(const struct args *a, long i, long nth_kakao, struct winner_msg *w)
{
    memset(w, 0, sizeof(*w));
    uuid_v7(w->entry_id);
    w->event_id = a->event;
    snprintf(w->member_id, sizeof(w->member_id), "%s%ld", a->prefix, i);
    w->seq = i;
    int kakao = i % 100 < a->kakao_pct;
    snprintf(w->channel, sizeof(w->channel), "%s", kakao ? "kakao" : "sms");
    const char *pfx = "+8210";
    if (a->invalid_every && i % a->invalid_every == 0)
        pfx = "+8299";
    else if (kakao && a->not_kakao_every && nth_kakao % a->not_kakao_every == 0)
        pfx = "+8298";
    snprintf(w->phone, sizeof(w->phone), "%s%08ld", pfx, i % 100000000);
    time_format_ms(time_now_ms(), w->won_at);
}

/* The next winner of a --replay file ("member entry_id channel phone"); 0 at the end. */
static int read_winner(FILE *f, const struct args *a, struct winner_msg *w)
{
    char member[80], entry[64], channel[16], phone[32];
    memset(w, 0, sizeof(*w));
    if (fscanf(f, "%79s %63s %15s %31s", member, entry, channel, phone) != 4)
        return 0;
    snprintf(w->member_id, sizeof(w->member_id), "%s", member);
    snprintf(w->entry_id, sizeof(w->entry_id), "%s", entry);
    snprintf(w->channel, sizeof(w->channel), "%s", channel);
    snprintf(w->phone, sizeof(w->phone), "%s", phone);
    const char *dash = strrchr(member, '-');
    w->seq = dash ? strtol(dash + 1, NULL, 10) : 1;
    w->event_id = a->event;
    time_format_ms(time_now_ms(), w->won_at);
    return 1;
}

int main(int argc, char **argv)
{
    struct args a;
    struct rmq_conn c;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    FILE *out = a.out ? fopen(a.out, "w") : NULL;
    if (a.out && !out) {
        fprintf(stderr, "notify_winners: cannot write %s\n", a.out);
        return 1;
    }
    const char *url = getenv("AMQP_URL");
    struct rmq_opts o = {url ? url : "amqp://guest:guest@127.0.0.1:5672",
                         "notify-winners",
                         "bench",
                         "publish",
                         0,
                         5000};
    if (rmq_open_publisher(&c, &o) != GD_OK) {
        fprintf(stderr, "notify_winners: %s\n", c.err);
        return 1;
    }
    FILE *in = a.replay ? fopen(a.replay, "r") : NULL;
    if (a.replay && !in) {
        fprintf(stderr, "notify_winners: cannot read %s\n", a.replay);
        return 1;
    }
    int64_t t0 = time_mono_ms();
    long nth_kakao = 0, published = 0;
    for (long i = a.first; in || i < a.first + a.count; i++) {
        struct winner_msg w;
        char *body;
        size_t len;
        if (in && !read_winner(in, &a, &w))
            break;
        if (!in) {
            nth_kakao += i % 100 < a.kakao_pct;
            make_winner(&a, i, nth_kakao, &w);
        }
        published++;
        if (winner_msg_encode(&w, &body, &len) != GD_OK)
            return 1;
        struct rmq_props p = {
            w.entry_id, MSG_TYPE_WINNER, "notify-winners", time_now_ms() / 1000, w.event_id, NULL,
            NULL};
        while ((long)rmq_unconfirmed(&c) >= a.window)
            if (rmq_pump(&c, 1000, NULL) < 0)
                return 1;
        int rc = rmq_publish(&c, EX_WINNER, w.channel, 1, &p, body, len, NULL);
        free(body);
        if (rc != GD_OK) {
            fprintf(stderr, "notify_winners: %s\n", c.err);
            return 1;
        }
        if (out)
            fprintf(out, "%s %s %s %s\n", w.member_id, w.entry_id, w.channel, w.phone);
    }
    int rc = rmq_wait_confirms(&c, 60000);
    if (out)
        fclose(out);
    if (in)
        fclose(in);
    if (rc != GD_OK) {
        fprintf(stderr, "notify_winners: confirms: %s %s\n", err_str(rc), c.err);
        return 1;
    }
    double s = (double)(time_mono_ms() - t0) / 1000.0;
    printf("{\"published\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n", published, s,
           s > 0 ? (double)published / s : 0.0);
    rmq_close(&c);
    return 0;
}
