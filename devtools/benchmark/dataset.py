"""The benchmark's dataset: a SaaS company's billing at scale, built inside PostgreSQL.

Every table is filled with one `INSERT … SELECT` over `generate_series`, so the rows never
travel through Python and a million customers load in minutes. The proportions follow a
developer-tools company: most customers on the free plan, then personal, team and business;
paid customers have a few monthly invoices, each paid by a card payment (some failed, some
refunded); a few customers are "whales" with thousands of invoices and payments and 100,000
history rows. Every row satisfies the schema's constraints.

While loading, the secondary indexes of the loaded tables are dropped and rebuilt afterwards
(building an index once is much faster than maintaining it row by row), and foreign-key
triggers are off (`session_replication_role = replica`; the rows are consistent by
construction). The definitions of the dropped indexes are saved in the marker table first,
so an interrupted load is finished by the next run instead of leaving the schema without them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

MARKER = "benchmark_dataset"
WHALE_INVOICES = 5000
WHALE_HISTORY = 100_000

# The tables the loader fills (and empties before a load of another size).
TABLES = [
    "billing_plan",
    "billing_price",
    "billing_planentitlement",
    "billing_customer",
    "billing_subscription",
    "billing_invoice",
    "billing_payment",
    "billing_refund",
    "billing_balancetransaction",
    "billing_action",
    "billing_approvalrequest",
    "support_ticket",
    "support_note",
    "billing_historicalcustomer",
    "billing_historicalsubscription",
    "billing_historicalinvoice",
    "billing_historicalpayment",
    "billing_historicalaction",
    "billing_historicalapprovalrequest",
    "support_historicalticket",
]

PLANS = [
    # code, name, per seat, unit amount (usd cents; eur the same number), entitlements
    ("bench-free", "Free", False, 0, {"seats": "1", "private_repos": "3", "build_minutes": "500"}),
    ("bench-personal", "Personal", False, 700, {"seats": "1", "private_repos": "unlimited"}),
    ("bench-team", "Team", True, 400, {"private_repos": "unlimited", "build_minutes": "3000"}),
    ("bench-business", "Business", True, 2100, {"build_minutes": "50000", "sso": "true"}),
]

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Wei Yuki Priya Ahmed Sofia Lukas Chloe Mateo "
    "Aisha Hiroshi"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores"
).split()
ADJECTIVE = (
    "Blue Red Quantum Rapid Silent Bright Clever Golden Iron Lunar Solar Swift Crimson Hidden "
    "Northern Open Prime Smart Urban Wild"
).split()
NOUN = (
    "Falcon River Harbor Forge Pixel Orbit Summit Cedar Beacon Canyon Comet Delta Ember Fjord "
    "Glacier Horizon Lantern Meadow Nimbus Vertex"
).split()
SUFFIX = "Labs Inc Corp Systems Software Cloud Analytics Studio Group Technologies".split()
WEBMAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]
COUNTRIES = ["US", "US", "US", "DE", "GB", "FR", "CA", "IN", "BR", "JP", "NL", "AU"]
SUBJECTS = [
    "Charged twice this month",
    "Refund request",
    "Upgrade to annual billing",
    "Invoice needs our VAT number",
    "Card declined but I have funds",
    "Remove seats from our team",
    "Cancel my subscription",
    "Question about build minutes",
]


@dataclass
class Sizes:
    customers: int
    rows: dict[str, int]
    whales: list[int]
    # The day the load ran: its rows are dated back from then (an invoice a month before it,
    # history rows of that moment), so filters by date are chosen from it, not from today.
    loaded_on: dt.date

    @property
    def history_rows(self) -> int:
        return sum(count for table, count in self.rows.items() if "historical" in table)


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def whale_ids(customers: int) -> list[int]:
    """A few customers spread over the id range; at least one, at most five."""
    count = max(1, min(5, customers // 200_000))
    return [1 + index * (customers // count) + 7 for index in range(count)][:count]


def marker() -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER])
        if cursor.fetchone()[0] is None:
            return None
        # A marker written before the load's day was kept has none: the day is then read
        # off the data (the newest customer joined the day before the load, exactly so from
        # 1,800 customers on).
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'loaded_at')",
            [MARKER],
        )
        loaded_at = "loaded_at" if cursor.fetchone()[0] else "NULL::timestamptz"
        cursor.execute(
            f"SELECT customers, state, indexes, sizes, coalesce({loaded_at}, "
            f"(SELECT max(created) + interval '1 day' FROM billing_customer)) FROM {MARKER}"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    indexes, sizes = (json.loads(v) if isinstance(v, str) else v for v in (row[2], row[3]))
    loaded_on = row[4].date() if row[4] else timezone.now().date()
    return {
        "customers": row[0],
        "state": row[1],
        "indexes": indexes,
        "sizes": sizes,
        "loaded_on": loaded_on,
    }


def sizes_now(customers: int, loaded_on: dt.date) -> Sizes:
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            rows[table] = cursor.fetchone()[0]
    return Sizes(customers=customers, rows=rows, whales=whale_ids(customers), loaded_on=loaded_on)


def ensure(customers: int, *, log: Callable[[str], None]) -> Sizes:
    """The dataset of `customers` customers: reused if loaded, else (re)built."""
    found = marker()
    if found and found["state"] == "loaded" and found["customers"] == customers:
        log(f"Reusing the loaded dataset of {customers:,} customers.")
        saved = found["sizes"] or {}
        return Sizes(
            customers=customers,
            rows=saved,
            whales=whale_ids(customers),
            loaded_on=found["loaded_on"],
        )
    if found is None and _has_rows():
        raise RuntimeError(
            "This database holds customers but no benchmark dataset: point DATABASE_URL at an "
            "empty database of its own (e.g. createdb bench; manage.py migrate)."
        )
    started = time.monotonic()
    _load(customers, found, log=log)
    loaded = marker()
    assert loaded is not None  # _load wrote it
    sizes = sizes_now(customers, loaded["loaded_on"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {MARKER} SET state = 'loaded', sizes = %s", [json.dumps(sizes.rows)]
        )
    log(f"Loaded in {time.monotonic() - started:.0f} s.")
    return sizes


def _has_rows() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM billing_customer)")
        return cursor.fetchone()[0]


def _secondary_indexes() -> list[tuple[str, str]]:
    """Indexes of the loaded tables that back no constraint (those stay: they are the
    uniqueness the data must keep), as (name, definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY (%s::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1
            """,
            [TABLES],
        )
        return list(cursor.fetchall())


def _load(customers: int, found: dict | None, *, log: Callable[[str], None]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER} (customers integer NOT NULL, "
            "state text NOT NULL, indexes jsonb NOT NULL, sizes jsonb, loaded_at timestamptz)"
        )
        cursor.execute(f"ALTER TABLE {MARKER} ADD COLUMN IF NOT EXISTS loaded_at timestamptz")
        # After an interrupted load, some indexes exist only in the marker's list.
        indexes = _secondary_indexes()
        if found and found["state"] == "loading":
            present = {name for name, _ in indexes}
            indexes += [(n, d) for n, d in found["indexes"] if n not in present]
        cursor.execute(f"DELETE FROM {MARKER}")
        cursor.execute(
            f"INSERT INTO {MARKER} VALUES (%s, 'loading', %s, NULL, now())",
            [customers, json.dumps(indexes)],
        )
        log(f"Building a dataset of {customers:,} customers (whales: {whale_ids(customers)}).")
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET work_mem = '256MB'")
        try:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            for step, statements in _steps(customers):
                began = time.monotonic()
                for statement in statements:
                    cursor.execute(statement)
                log(f"  {step}: {time.monotonic() - began:.1f} s")
            began = time.monotonic()
            for _, definition in indexes:
                cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            log(f"  indexes: {time.monotonic() - began:.1f} s")
            for table in TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', "
                    f"'{'history_id' if 'historical' in table else 'id'}'), "
                    f"(SELECT coalesce(max({'history_id' if 'historical' in table else 'id'}), "
                    f"0) + 1 FROM {table}), false)"
                )
            began = time.monotonic()
            # VACUUM too, as autovacuum keeps a live database: the visibility map lets index-only
            # scans (a last4 search's customers, say) skip the heap.
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
            log(f"  vacuum and analyze: {time.monotonic() - began:.1f} s")
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def _history(base: str, history: str, *, source: str, extra: str = "") -> str:
    """Copy rows of `base` (as `b`, from `source`) into its history table: same columns, plus
    when, what kind of change, why and the ticket."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND is_generated = 'NEVER' AND column_name IN (SELECT column_name "
            "FROM information_schema.columns WHERE table_name = %s) ORDER BY ordinal_position",
            [history, base],
        )
        columns = [row[0] for row in cursor.fetchall()]
    names = ", ".join(columns)
    values = ", ".join(f"b.{column}" for column in columns)
    return (
        f"INSERT INTO {history} ({names}, history_date, history_type, history_change_reason, "
        f"history_user_id, history_ticket) SELECT {values}, {extra or 'b.created'}, {source}"
    )


def _steps(customers: int) -> list[tuple[str, list[str]]]:
    whales = "ARRAY[" + ",".join(str(w) for w in whale_ids(customers)) + "]::bigint[]"
    first, last = sql_array(FIRST), sql_array(LAST)
    adjective, noun, suffix = sql_array(ADJECTIVE), sql_array(NOUN), sql_array(SUFFIX)
    webmail, countries, subjects = sql_array(WEBMAIL), sql_array(COUNTRIES), sql_array(SUBJECTS)
    plans = []
    entitlements = []
    prices = []
    for position, (code, name, per_seat, amount, features) in enumerate(PLANS, start=1):
        plans.append(
            f"({position}, '{code}', '{name}', '', 'prod_{code.replace('-', '_')}', {per_seat}, "
            "true, now() - interval '3 years', now(), now())"
        )
        for currency_index, currency in enumerate(("usd", "eur")):
            prices.append(
                f"({position * 2 - 1 + currency_index}, "
                f"'price_{code.replace('-', '_')}_{currency}', 'month', {amount}, '{currency}', "
                f"true, now() - interval '3 years', now(), {position}, now())"
            )
        for feature, value in features.items():
            entitlements.append(f"('{feature}', '{value}', {position})")
    return [
        (
            "staff and catalog",
            [
                "INSERT INTO billing_plan (id, code, name, description, stripe_product_id, "
                "per_seat, active, created_at, updated_at, stripe_fetched_at) VALUES "
                + ", ".join(plans),
                "INSERT INTO billing_price (id, stripe_price_id, interval, unit_amount, currency, "
                "active, created_at, updated_at, plan_id, stripe_fetched_at) VALUES "
                + ", ".join(prices),
                "INSERT INTO billing_planentitlement (feature, value, plan_id) VALUES "
                + ", ".join(entitlements),
                # Who each customer is: plan tier (1 free … 4 business), seats, currency, how
                # many invoices; whales are business customers with thousands.
                "DROP TABLE IF EXISTS bench_c",
                "CREATE TEMP TABLE bench_c AS "
                "SELECT g AS id, t.tier, "
                "CASE t.tier WHEN 3 THEN 2 + g % 30 WHEN 4 THEN 10 + g % 300 ELSE 1 END AS seats, "
                "CASE WHEN g % 7 = 0 THEN 'eur' ELSE 'usd' END AS currency, "
                f"CASE WHEN g = ANY({whales}) THEN {WHALE_INVOICES} WHEN t.tier = 1 THEN 0 "
                "ELSE 1 + g % 6 END AS invoices, "
                "now() - ((1 + (g * 7) % 1800) * interval '1 day') AS created "
                f"FROM generate_series(1::bigint, {customers}::bigint) g, LATERAL (SELECT CASE "
                f"WHEN g = ANY({whales}) THEN 4 WHEN (g * 7919) % 100 < 55 THEN 1 "
                "WHEN (g * 7919) % 100 < 80 THEN 2 WHEN (g * 7919) % 100 < 96 THEN 3 "
                "ELSE 4 END AS tier) t",
                "ALTER TABLE bench_c ADD PRIMARY KEY (id)",
                "ANALYZE bench_c",
            ],
        ),
        (
            "customers",
            [
                "INSERT INTO billing_customer (id, kind, name, handle, billing_email, "
                "email_domain, country, currency, stripe_customer_id, status, created, "
                "updated_at, stripe_fetched_at) "
                "SELECT c.id, CASE WHEN c.tier >= 3 THEN 'organization' ELSE 'personal' END, "
                "n.name, n.handle, n.email, split_part(n.email, '@', 2), "
                f"({countries})[1 + c.id % {len(COUNTRIES)}], c.currency, "
                "'cus_' || substr(md5('c' || c.id), 1, 10) || to_hex(c.id), "
                "CASE WHEN c.id % 50 = 0 THEN 'delinquent' WHEN c.id % 33 = 0 THEN 'closed' "
                "ELSE 'active' END, c.created, now(), now() "
                "FROM bench_c c, LATERAL (SELECT "
                "CASE WHEN c.tier >= 3 THEN "
                f"({adjective})[1 + c.id % {len(ADJECTIVE)}] || ' ' || "
                f"({noun})[1 + (c.id / {len(ADJECTIVE)}) % {len(NOUN)}] || ' ' || "
                f"({suffix})[1 + (c.id / 400) % {len(SUFFIX)}] "
                f"ELSE ({first})[1 + c.id % {len(FIRST)}] || ' ' || "
                f"({last})[1 + (c.id / {len(FIRST)}) % {len(LAST)}] END AS name, "
                "CASE WHEN c.tier >= 3 THEN "
                f"lower(({adjective})[1 + c.id % {len(ADJECTIVE)}] || '-' || "
                f"({noun})[1 + (c.id / {len(ADJECTIVE)}) % {len(NOUN)}]) || '-' || c.id "
                f"ELSE lower(({first})[1 + c.id % {len(FIRST)}] || "
                f"({last})[1 + (c.id / {len(FIRST)}) % {len(LAST)}]) || c.id END AS handle) h, "
                "LATERAL (SELECT h.name, h.handle, CASE "
                "WHEN c.tier >= 3 THEN 'billing@' || h.handle || '.io' "
                f"WHEN c.id % 10 < 7 THEN h.handle || '@' || ({webmail})[1 + c.id % 4] "
                "ELSE h.handle || '@' || h.handle || '.dev' END AS email) n",
            ],
        ),
        (
            "subscriptions",
            [
                "INSERT INTO billing_subscription (id, stripe_subscription_id, status, quantity, "
                "current_period_start, current_period_end, cancel_at_period_end, canceled_at, "
                "pause_behavior, discount_coupon_id, created, updated_at, customer_id, price_id, "
                "stripe_fetched_at, stripe_item_id) "
                "SELECT c.id, 'sub_' || substr(md5('s' || c.id), 1, 10) || to_hex(c.id), "
                "CASE WHEN c.id % 50 = 0 THEN 'past_due' WHEN c.id % 33 = 0 THEN 'canceled' "
                "ELSE 'active' END, c.seats, date_trunc('month', now()), "
                "date_trunc('month', now()) + interval '1 month', false, "
                "CASE WHEN c.id % 33 = 0 AND c.id % 50 <> 0 THEN now() END, '', '', c.created, "
                "now(), c.id, c.tier * 2 - CASE c.currency WHEN 'usd' THEN 1 ELSE 0 END, now(), "
                "'si_' || substr(md5('si' || c.id), 1, 10) || to_hex(c.id) FROM bench_c c",
            ],
        ),
        (
            "invoices",
            [
                "INSERT INTO billing_invoice (stripe_invoice_id, number, status, currency, "
                "subtotal, total, amount_due, amount_paid, amount_remaining, period_start, "
                "period_end, service_period_start, service_period_end, hosted_invoice_url, "
                "created, finalized_at, paid_at, updated_at, customer_id, subscription_id, "
                "stripe_fetched_at) "
                "SELECT 'in_' || substr(md5('i' || c.id || '.' || s), 1, 10) || to_hex(c.id) "
                "|| 'x' || to_hex(s), 'B' || upper(lpad(to_hex(c.id), 7, '0')) || '-' || "
                "lpad(s::text, 4, '0'), v.status, c.currency, v.amount, v.amount, v.amount, "
                "v.paid, v.amount - v.paid, v.created - interval '1 month', v.created, "
                "v.created, v.created + interval '1 month', '', v.created, v.created, "
                "CASE WHEN v.paid > 0 THEN v.created END, now(), c.id, c.id, now() "
                "FROM bench_c c CROSS JOIN LATERAL generate_series(1, c.invoices) s "
                "CROSS JOIN LATERAL (SELECT "
                "CASE WHEN s = c.invoices AND c.id % 5 = 0 THEN 'open' ELSE 'paid' END AS status, "
                "(ARRAY[0, 700, 400, 2100])[c.tier] * c.seats AS amount, "
                "CASE WHEN s = c.invoices AND c.id % 5 = 0 THEN 0 "
                "ELSE (ARRAY[0, 700, 400, 2100])[c.tier] * c.seats END AS paid, "
                "now() - ((c.invoices - s) * 730.0 / greatest(c.invoices, 24)) "
                "* interval '1 day' AS created) v WHERE c.invoices > 0",
            ],
        ),
        (
            "payments and refunds",
            [
                "INSERT INTO billing_payment (stripe_payment_intent_id, stripe_charge_id, amount, "
                "amount_refunded, currency, status, card_brand, card_last4, failure_code, "
                "failure_message, created, updated_at, customer_id, invoice_id, "
                "stripe_fetched_at, stripe_balance_transaction_id) "
                "SELECT 'pi_' || substr(md5('pi' || i.id), 1, 12) || to_hex(i.id), "
                "'ch_' || substr(md5('ch' || i.id), 1, 12) || to_hex(i.id), i.amount_due, "
                "CASE WHEN i.status = 'paid' AND i.id % 29 = 0 THEN i.amount_due / 2 ELSE 0 END, "
                "i.currency, CASE i.status WHEN 'paid' THEN 'succeeded' ELSE 'failed' END, "
                "(ARRAY['visa', 'mastercard', 'amex'])[1 + i.customer_id % 3], "
                "lpad(((i.customer_id * 7919) % 10000)::text, 4, '0'), "
                "CASE i.status WHEN 'paid' THEN '' ELSE 'card_declined' END, "
                "CASE i.status WHEN 'paid' THEN '' ELSE 'Your card was declined.' END, "
                "i.created, now(), i.customer_id, i.id, now(), "
                "CASE i.status WHEN 'paid' THEN 'txn_' || substr(md5('t' || i.id), 1, 12) "
                "|| to_hex(i.id) ELSE '' END FROM billing_invoice i",
                "INSERT INTO billing_refund (stripe_refund_id, amount, currency, status, reason, "
                "created, recorded_at, payment_id, stripe_balance_transaction_id) "
                "SELECT 're_' || substr(md5('re' || p.id), 1, 12) || to_hex(p.id), "
                "p.amount_refunded, p.currency, 'succeeded', 'requested_by_customer', "
                "p.created + interval '2 days', p.created + interval '2 days', p.id, '' "
                "FROM billing_payment p WHERE p.amount_refunded > 0",
                "INSERT INTO billing_balancetransaction (stripe_balance_transaction_id, amount, "
                "currency, type, description, ending_balance, created, recorded_at, "
                "customer_id) SELECT 'cbtxn_' || substr(md5('b' || c.id || '.' || s), 1, 10) "
                "|| to_hex(c.id) || 'x' || to_hex(s), -500 - s, c.currency, 'adjustment', "
                "'Goodwill credit', -500 - s, c.created + s * interval '1 hour', now(), c.id "
                f"FROM bench_c c CROSS JOIN LATERAL generate_series(1, CASE WHEN c.id = "
                f"ANY({whales}) THEN 2000 ELSE 1 END) s "
                f"WHERE c.tier > 1 AND (c.id % 20 = 0 OR c.id = ANY({whales}))",
            ],
        ),
        (
            "tickets, notes, actions and approvals",
            [
                "INSERT INTO support_ticket (external_ref, subject, requester_email, status, "
                "created_at, updated_at, solved_at, assignee_id, customer_id) "
                "SELECT 'ZD-' || (c.id * 1000 + s), "
                f"({subjects})[1 + (c.id + s) % {len(SUBJECTS)}], cu.billing_email, v.status, "
                "v.created, v.created, CASE v.status WHEN 'solved' THEN v.created "
                "+ interval '1 day' END, CASE WHEN (c.id + s) % 3 = 0 THEN NULL ELSE "
                "(SELECT array_agg(id ORDER BY id) FROM accounts_user "
                "WHERE username LIKE 'bench-%')[1 + (c.id + s) % 4] END, c.id "
                "FROM bench_c c JOIN billing_customer cu ON cu.id = c.id "
                f"CROSS JOIN LATERAL generate_series(1, CASE WHEN c.id = ANY({whales}) THEN 200 "
                "WHEN c.id % 48 = 0 THEN 2 ELSE 1 END) s "
                "CROSS JOIN LATERAL (SELECT (ARRAY['solved', 'solved', 'solved', 'solved', "
                "'solved', 'solved', 'solved', 'new', 'open', 'pending'])[1 + (c.id * 3 + s) % 10]"
                " AS status, c.created + ((c.id + s) % 600) * interval '1 day' AS created) v "
                f"WHERE c.id % 12 = 0 OR c.id = ANY({whales})",
                "INSERT INTO support_note (body, created_at, updated_at, author_id, customer_id, "
                "ticket_id) SELECT 'Looked at the invoices with the customer.', t.created_at, "
                "t.created_at, (SELECT min(id) FROM accounts_user WHERE username LIKE "
                "'bench-%'), t.customer_id, t.id FROM support_ticket t",
                # A succeeded refund action for every refund, by one of the staff.
                "INSERT INTO billing_action (kind, state, reason_code, ticket_ref, note, payload, "
                "payload_hash, amount, currency, stripe_object_id, error_code, error_message, "
                "attempts, created_at, updated_at, completed_at, actor_id, customer_id, "
                "payment_id, stripe_metadata, measure, stripe_answered_at) "
                "SELECT 'refund', 'succeeded', 'requested_by_customer', 'ZD-' || (r.id + 9), '', "
                "jsonb_build_object('payment_id', p.id, 'charge', p.stripe_charge_id, 'amount', "
                "r.amount), md5('a' || r.id) || md5('b' || r.id), r.amount, r.currency, "
                "r.stripe_refund_id, '', '', 1, r.created, r.created, r.created, "
                "(SELECT array_agg(id ORDER BY id) FROM accounts_user "
                "WHERE username LIKE 'bench-%')[1 + r.id % 4], p.customer_id, p.id, '{}', "
                "r.amount, r.created FROM billing_refund r JOIN billing_payment p "
                "ON p.id = r.payment_id",
                # Credits: pending approval (requested by support), and decided ones.
                "INSERT INTO billing_action (kind, state, reason_code, ticket_ref, note, payload, "
                "payload_hash, amount, currency, stripe_object_id, error_code, error_message, "
                "attempts, created_at, updated_at, actor_id, customer_id, stripe_metadata, "
                "measure) SELECT 'credit', CASE WHEN s <= 300 THEN 'pending_approval' "
                "WHEN s % 5 = 0 THEN 'rejected' ELSE 'succeeded' END, 'goodwill', 'ZD-' || s, "
                "'', jsonb_build_object('customer_id', c.id, 'amount', 5000 + s, 'currency', "
                "c.currency), md5('c' || s) || md5('d' || s), 5000 + s, c.currency, '', '', '', "
                "0, now() - (s * interval '37 minutes'), now(), "
                "(SELECT id FROM accounts_user WHERE username = 'bench-support'), c.id, '{}', "
                f"5000 + s FROM generate_series(1, {min(3000, max(400, customers // 300))}) s "
                f"JOIN bench_c c ON c.id = 1 + (s * 7919) % {customers}",
                "INSERT INTO billing_approvalrequest (payload_hash, expires_at, decision, "
                "decided_at, decision_note, created_at, action_id, decided_by_id, "
                "requested_by_id) SELECT a.payload_hash, a.created_at + interval '72 hours', "
                "CASE a.state WHEN 'pending_approval' THEN '' WHEN 'rejected' THEN 'rejected' "
                "ELSE 'approved' END, CASE WHEN a.state <> 'pending_approval' THEN "
                "a.created_at + interval '1 hour' END, CASE a.state WHEN 'rejected' THEN "
                "'Not covered by the goodwill policy' ELSE '' END, a.created_at, a.id, "
                "CASE WHEN a.state <> 'pending_approval' THEN (SELECT id FROM accounts_user "
                "WHERE username = 'bench-finance') END, a.actor_id FROM billing_action a "
                "WHERE a.kind = 'credit'",
            ],
        ),
        (
            "history",
            [
                _history(
                    "billing_customer",
                    "billing_historicalcustomer",
                    source="'+', 'Stripe sync', NULL, '' FROM billing_customer b",
                ),
                _history(
                    "billing_subscription",
                    "billing_historicalsubscription",
                    source="'+', 'Stripe sync', NULL, '' FROM billing_subscription b",
                ),
                _history(
                    "billing_invoice",
                    "billing_historicalinvoice",
                    source="'+', 'Stripe sync', NULL, '' FROM billing_invoice b",
                ),
                _history(
                    "billing_payment",
                    "billing_historicalpayment",
                    source="'+', 'Stripe sync', NULL, '' FROM billing_payment b",
                ),
                _history(
                    "billing_action",
                    "billing_historicalaction",
                    source="'+', 'Staff request', b.actor_id, b.ticket_ref FROM billing_action b",
                    extra="b.created_at",
                ),
                _history(
                    "billing_approvalrequest",
                    "billing_historicalapprovalrequest",
                    source="'+', 'Approval requested', b.requested_by_id, '' "
                    "FROM billing_approvalrequest b",
                    extra="b.created_at",
                ),
                _history(
                    "support_ticket",
                    "support_historicalticket",
                    source="'+', 'Helpdesk sync', NULL, '' FROM support_ticket b",
                    extra="b.created_at",
                ),
                # The whales' long histories: every invoice finalized and paid, every payment
                # updated, seat changes and profile edits, 100,000 rows each in all.
                _history(
                    "billing_invoice",
                    "billing_historicalinvoice",
                    source="'~', 'Stripe webhook', NULL, '' FROM billing_invoice b, "
                    "generate_series(1, 2) s WHERE b.customer_id = ANY(" + whales + ")",
                    extra="b.created + s * interval '1 hour'",
                ),
                _history(
                    "billing_payment",
                    "billing_historicalpayment",
                    source="'~', 'Stripe webhook', NULL, '' FROM billing_payment b "
                    "WHERE b.customer_id = ANY(" + whales + ")",
                    extra="b.created + interval '1 hour'",
                ),
                _history(
                    "billing_subscription",
                    "billing_historicalsubscription",
                    source="'~', 'Seat change', NULL, 'ZD-' || s FROM billing_subscription b, "
                    "generate_series(1, 25000) s WHERE b.customer_id = ANY(" + whales + ")",
                    extra="now() - s * interval '41 minutes'",
                ),
                _history(
                    "billing_customer",
                    "billing_historicalcustomer",
                    source="'~', 'Profile edit', NULL, '' FROM billing_customer b, "
                    f"generate_series(1, {WHALE_HISTORY - 5 * WHALE_INVOICES - 25000 - 2}) s "
                    "WHERE b.id = ANY(" + whales + ")",
                    extra="now() - s * interval '23 minutes'",
                ),
            ],
        ),
    ]
