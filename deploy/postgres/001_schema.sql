-- giftdrop schema, version 1.  The system of record: Redis holds the hot
-- state of a running event and can be rebuilt from these tables.

CREATE TABLE members (
    member_id    text PRIMARY KEY CHECK (member_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    phone        text NOT NULL,          -- E.164, personal data: logs mask it
    kakao_opt_in boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE purchases (
    member_id    text NOT NULL REFERENCES members,
    product_id   text NOT NULL,
    purchased_at timestamptz NOT NULL,
    PRIMARY KEY (member_id, product_id, purchased_at)
);
CREATE INDEX purchases_product ON purchases (product_id, member_id);

CREATE TABLE events (
    event_id     bigserial PRIMARY KEY,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    product_id   text NOT NULL,
    opens_at     timestamptz NOT NULL,
    closes_at    timestamptz NOT NULL,
    stock_total  integer NOT NULL CHECK (stock_total > 0),
    safety_stock integer NOT NULL DEFAULT 0,
    released     integer NOT NULL DEFAULT 0,  -- safety units an operator released
    survey       jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'draft'
                 CHECK (state IN ('draft', 'armed', 'sold_out', 'closed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_at > opens_at),
    CHECK (safety_stock >= 0 AND safety_stock < stock_total),
    CHECK (released >= 0 AND released <= safety_stock)
);

-- One row per decided entry.  (event_id, member_id) is the idempotency key of
-- every decision: a redelivered entry finds its row and changes nothing.
CREATE TABLE entries (
    entry_id     uuid PRIMARY KEY,
    event_id     bigint NOT NULL REFERENCES events,
    member_id    text NOT NULL,
    answers      jsonb NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('won', 'lost')),
    seq          integer,
    submitted_at timestamptz NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, member_id),
    CHECK ((outcome = 'won') = (seq IS NOT NULL))
);
CREATE INDEX entries_event_outcome ON entries (event_id, outcome);

-- The coupon pool: exactly stock_total codes per event, of which
-- safety_stock are held back until released.  The pool is the final guard
-- against oversell: a code is handed out at most once, a member holds at
-- most one per event, and held-back codes are never taken by the notifier.
CREATE TABLE coupons (
    event_id    bigint NOT NULL REFERENCES events,
    code        text NOT NULL,
    safety      boolean NOT NULL DEFAULT false,
    member_id   text,
    assigned_at timestamptz,
    PRIMARY KEY (event_id, code),
    UNIQUE (event_id, member_id),
    CHECK ((member_id IS NULL) = (assigned_at IS NULL))
);
CREATE INDEX coupons_free ON coupons (event_id, safety, code) WHERE member_id IS NULL;

-- The send ledger: one row per winner, 'sending' before the provider call,
-- 'sent' or 'failed' after.  A redelivered winner with a 'sent' row is acked
-- without a second send.
CREATE TABLE notifications (
    event_id            bigint NOT NULL REFERENCES events,
    member_id           text NOT NULL,
    entry_id            uuid NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('kakao', 'sms')),
    status              text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts            integer NOT NULL DEFAULT 0,
    coupon_code         text,
    endpoint            text,
    provider_message_id text,
    last_error          text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, member_id)
);
