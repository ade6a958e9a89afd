"""The admin bench's data: 1,000 companies with 1,000,000 devices, written with set-based
SQL (INSERT … SELECT generate_series) straight into the tables, in one transaction.

Five partners serve 200 companies each; the measured one is the first ("Bench Distributor",
companies 1-200). Each company has 200 employees, each with a budget and one order of five
devices (two lines: three laptops, leased on every fourth order, and two monitors), the
approved request behind it, and 17 more requests (10 waiting for approval, 2 for the card,
5 rejected). Orders are spread over two years, most of them recent; a device's status
follows its order's age (a few per cent still with the partner), its status_changed_at
falls within the last 120 days for devices in use. Leased devices in use have a lease;
spends and reservations are in the ledger; each company has 50 mails in the outbox. The
first partner's devices have their history (prepared, shipped, delivered, received,
cancelled), which the partner's service figures read.

The seed is one transaction that ends with a marker row, so it either is there entirely or
not at all: a second run finds the marker and skips."""

from __future__ import annotations

import time

# The full size; ``seed(companies=…, employees=…)`` writes the same shape smaller.
COMPANIES = 1000
PARTNERS = 5  # each serves COMPANIES / PARTNERS companies (200)
EMPLOYEES = 200  # per company, one order of five devices each: 1,000 devices per company
MARKER = "bench-admin-seeded-v1"  # the outbox row written last
STAFF_EMAIL = "staff@bench-distributor.example"
ADMIN_EMAIL = "admin@bench-co-0001.example"

FIRST = [
    "Anna",
    "Erik",
    "Maria",
    "Lars",
    "Karin",
    "Johan",
    "Sara",
    "Anders",
    "Emma",
    "Mikael",
    "Elin",
    "Per",
    "Ida",
    "Nils",
    "Lena",
    "Oskar",
    "Maja",
    "Henrik",
    "Alva",
    "Jonas",
]
LAST = [
    "Andersson",
    "Lindqvist",
    "Berg",
    "Nyström",
    "Holm",
    "Ekström",
    "Sandberg",
    "Lund",
    "Wikström",
    "Forsberg",
    "Dahl",
    "Engström",
    "Sjöberg",
    "Lindgren",
    "Hedlund",
    "Björk",
    "Nordin",
    "Ström",
    "Falk",
    "Sundberg",
    "Axelsson",
    "Hellström",
    "Blom",
    "Åberg",
    "Lindahl",
]

TABLES = [
    "devices_deviceevent",
    "leasing_lease",
    "budgets_budgetentry",
    "budgets_budget",
    "notifications_notification",
    "orders_productrequest",
    "devices_device",
    "orders_orderline",
    "orders_order",
    "orders_product",
    "companies_user_groups",
    "companies_user",
    "companies_partner_companies",
    "companies_partner",
    "companies_company",
    "companies_leasingcompany",
]

# Per order: its age in days, 0-730, most of them recent (730·u^1.5 for a uniform u).
AGE = "730 * power(((o.id * 2654435761) %% 1000003)::float8 / 1000003, 1.5)"

STEPS = [
    (
        "tenants",
        """
        INSERT INTO companies_leasingcompany (id, name, contact_email, contact_phone, website,
                                              created_at)
        VALUES (1, 'Bench Leasing', 'leasing@bench.example', '', '', now() - interval '3 years');

        INSERT INTO companies_partner (id, name, slug, support_email, support_phone, website,
                                       offers_tracking, created_at)
        SELECT p, CASE p WHEN 1 THEN 'Bench Distributor' ELSE 'Bench Partner ' || p END,
               CASE p WHEN 1 THEN 'bench-distributor' ELSE 'bench-partner-' || p END,
               'support@bench-partner-' || p || '.example', '', '', true,
               now() - interval '3 years'
        FROM generate_series(1, %(partners)s) p;

        INSERT INTO companies_company (id, name, slug, currency, auto_receive_on_delivery,
               buyout_allowed, support_name, support_email, support_phone, created_at,
               leasing_company_id, card_payments_allowed, buyout_payment)
        SELECT c, 'Bench Company ' || lpad(c::text, 4, '0'), 'bench-co-' || lpad(c::text, 4, '0'),
               'EUR', c %% 3 = 0, true, 'IT desk', 'it@bench-co-' || lpad(c::text, 4, '0')
               || '.example', '', now() - interval '3 years', 1, c %% 2 = 0,
               CASE WHEN c %% 5 = 0 THEN 'salary' ELSE 'card' END
        FROM generate_series(1, %(companies)s) c;

        INSERT INTO companies_partner_companies (id, partner_id, company_id)
        SELECT c, (c - 1) / %(per_partner)s + 1, c FROM generate_series(1, %(companies)s) c;

        INSERT INTO companies_user (id, password, last_login, is_superuser, email, full_name,
               role, job_title, phone, delivery_address, is_staff, is_active, date_joined,
               company_id, partner_id, profile_version)
        SELECT (c - 1) * %(employees)s + k, '!bench', NULL, false,
               'e' || k || '@bench-co-' || lpad(c::text, 4, '0') || '.example',
               (%(first)s::text[])[1 + ((c * 7 + k * 13) %% 20)] || ' '
               || (%(last)s::text[])[1 + ((c * 11 + k * 17) %% 25)],
               'employee', 'Engineer', '', 'Benchgatan ' || k || ', Stockholm', false, true,
               now() - interval '800 days', c, NULL, 0
        FROM generate_series(1, %(companies)s) c, generate_series(1, %(employees)s) k;

        INSERT INTO orders_product (id, name, category, description, price, currency,
               acquisition, monthly_price, lease_months, active, created_at, company_id,
               partner_id, picture)
        SELECT (c - 1) * 3 + j,
               (ARRAY['ThinkPad X1 Carbon', 'MacBook Pro 14 (leased)', 'Dell U2723 monitor'])[j],
               (ARRAY['laptop', 'laptop', 'monitor'])[j], '',
               (ARRAY[1299, 1899, 249])[j], 'EUR',
               (ARRAY['purchase', 'lease', 'purchase'])[j],
               CASE j WHEN 2 THEN 45 END, CASE j WHEN 2 THEN 36 END, true,
               now() - interval '3 years', c, (c - 1) / %(per_partner)s + 1, ''
        FROM generate_series(1, %(companies)s) c, generate_series(1, 3) j;
        """,
    ),
    (
        "orders",
        f"""
        INSERT INTO orders_order (id, delivery_address, note, expected_delivery, created_at,
               updated_at, company_id, employee_id, partner_id, dispatch_attempts,
               dispatch_claimed_until, dispatch_error, dispatch_next_at, dispatch_status,
               last_polled_at, next_poll_at, partner_ref, partner_status, partner_version,
               placed_at, poll_interval, tracking_open)
        SELECT o.id, 'Benchgatan 1, Stockholm', '', NULL, o.at, o.at, o.company, o.id,
               (o.company - 1) / %(per_partner)s + 1,
               CASE WHEN o.failed THEN 3 ELSE 1 END, NULL,
               CASE WHEN o.failed THEN 'The partner answered 503 three times.' ELSE '' END,
               NULL, CASE WHEN o.failed THEN 'failed' ELSE 'placed' END, NULL, NULL,
               CASE WHEN o.failed THEN '' ELSE 'P-' || o.id END, '', 0,
               CASE WHEN o.failed THEN NULL ELSE o.at + interval '2 minutes' END, 0, false
        FROM (
            SELECT o.id, (o.id - 1) / %(employees)s + 1 AS company,
                   now() - make_interval(secs => {AGE} * 86400) AS at,
                   {AGE} < 7 AND o.id %% 50 = 0 AS failed
            FROM generate_series(1, %(companies)s * %(employees)s) AS o(id)
        ) o;

        INSERT INTO orders_orderline (id, name, category, quantity, unit_price, currency,
               is_leased, monthly_price, lease_months, order_id, product_id)
        SELECT (o.id - 1) * 2 + j,
               CASE WHEN j = 2 THEN 'Dell U2723 monitor'
                    WHEN o.id %% 4 = 0 THEN 'MacBook Pro 14 (leased)'
                    ELSE 'ThinkPad X1 Carbon' END,
               CASE j WHEN 1 THEN 'laptop' ELSE 'monitor' END,
               CASE j WHEN 1 THEN 3 ELSE 2 END,
               CASE WHEN j = 2 THEN 249 WHEN o.id %% 4 = 0 THEN 1899 ELSE 1299 END, 'EUR',
               j = 1 AND o.id %% 4 = 0,
               CASE WHEN j = 1 AND o.id %% 4 = 0 THEN 45 END,
               CASE WHEN j = 1 AND o.id %% 4 = 0
                    THEN CASE WHEN (o.id / 4) %% 2 = 0 THEN 24 ELSE 36 END END,
               o.id,
               (o.company_id - 1) * 3 + CASE WHEN j = 2 THEN 3 WHEN o.id %% 4 = 0 THEN 2 ELSE 1 END
        FROM orders_order o, generate_series(1, 2) j;
        """,
    ),
    (
        "devices",
        """
        INSERT INTO devices_device (id, name, category, serial_number, is_leased, price,
               currency, status, status_changed_at, shipped_at, delivered_at, received_on,
               registered_manually, created_at, company_id, order_id, order_line_id, owner_id,
               partner_id, shipment_id)
        SELECT d.id, l.name, l.category,
               CASE WHEN t.shipped THEN 'SN' || lpad(d.id::text, 8, '0') ELSE '' END,
               l.is_leased, l.unit_price, 'EUR', s.status,
               CASE
                 WHEN s.status = 'ordered' THEN d.created_at
                 WHEN s.status = 'not_started' THEN d.created_at + t.early
                 WHEN s.status IN ('preparing', 'on_hold', 'backordered')
                   THEN d.created_at + make_interval(secs => d.age * 86400
                                                     * (0.2 + 0.6 * (d.h %% 100) / 100.0))
                 WHEN s.status = 'cancelled' THEN d.created_at + t.early
                 WHEN s.status = 'shipped' THEN t.shipped_at
                 WHEN s.status = 'delivered' THEN t.delivered_at
                 WHEN s.status = 'received' THEN t.received_at
                 ELSE greatest(t.received_at,
                               now() - make_interval(days => ((d.id * 7919) %% 120)::int,
                                                     hours => (d.id %% 24)::int))
               END,
               CASE WHEN t.shipped THEN t.shipped_at END,
               CASE WHEN t.delivered THEN t.delivered_at END,
               CASE WHEN t.received THEN t.received_at::date END,
               false, d.created_at, d.company_id, d.order_id, l.id, d.employee_id,
               d.partner_id, NULL
        FROM (
            SELECT (o.id - 1) * 5 + j AS id, o.id AS order_id, o.company_id, o.employee_id,
                   o.partner_id, o.created_at, o.dispatch_status,
                   extract(epoch FROM now() - o.created_at) / 86400 AS age,
                   (((o.id - 1) * 5 + j) * 40503) %% 1000 AS h,
                   (o.id - 1) * 2 + CASE WHEN j <= 3 THEN 1 ELSE 2 END AS line_id
            FROM orders_order o, generate_series(1, 5) j
        ) d
        JOIN orders_orderline l ON l.id = d.line_id
        CROSS JOIN LATERAL (
            SELECT CASE
              WHEN d.dispatch_status = 'failed' THEN 'ordered'
              WHEN d.age < 2 THEN CASE WHEN d.h < 500 THEN 'ordered' ELSE 'not_started' END
              WHEN d.age < 7 THEN CASE WHEN d.h < 600 THEN 'preparing'
                                       WHEN d.h < 750 THEN 'on_hold'
                                       WHEN d.h < 850 THEN 'backordered'
                                       ELSE 'not_started' END
              WHEN d.age < 12 THEN CASE WHEN d.h < 400 THEN 'shipped'
                                        WHEN d.h < 700 THEN 'delivered'
                                        ELSE 'received' END
              WHEN d.age < 60 THEN CASE WHEN d.h < 20 THEN 'cancelled'
                                        WHEN d.h < 500 THEN 'received'
                                        ELSE 'active' END
              ELSE CASE WHEN d.h < 20 THEN 'cancelled'
                        WHEN d.h < 40 THEN 'pending_buyout'
                        WHEN d.h < 60 THEN 'processing_trade_in'
                        WHEN d.h < 90 THEN 'traded_in'
                        WHEN d.h < 110 THEN 'bought_out'
                        WHEN d.h < 120 THEN 'removed'
                        ELSE 'active' END
            END AS status
        ) s
        CROSS JOIN LATERAL (
            SELECT least(0.5 + (d.h %% 70) / 10.0, d.age * 0.5) AS ship_days,
                   least(1 + (d.h %% 3), d.age * 0.3) AS deliver_days,
                   least(d.h %% 4 + (d.h %% 10) / 10.0, d.age * 0.1) AS receive_days
        ) k
        CROSS JOIN LATERAL (
            SELECT s.status NOT IN ('ordered', 'not_started', 'preparing', 'on_hold',
                                    'backordered', 'cancelled') AS shipped,
                   s.status NOT IN ('ordered', 'not_started', 'preparing', 'on_hold',
                                    'backordered', 'cancelled', 'shipped') AS delivered,
                   s.status NOT IN ('ordered', 'not_started', 'preparing', 'on_hold',
                                    'backordered', 'cancelled', 'shipped', 'delivered')
                     AS received,
                   make_interval(secs => least(7200, d.age * 8640)) AS early,
                   d.created_at + make_interval(secs => k.ship_days * 86400) AS shipped_at,
                   d.created_at + make_interval(secs => (k.ship_days + k.deliver_days) * 86400)
                     AS delivered_at,
                   d.created_at + make_interval(
                     secs => (k.ship_days + k.deliver_days + k.receive_days) * 86400
                   ) AS received_at
        ) t;
        """,
    ),
    (
        "requests, budgets, ledger",
        """
        INSERT INTO orders_productrequest (id, name, category, amount, currency, budget_amount,
               card_amount, is_leased, delivery_address, note, status, decided_at,
               decision_reason, created_at, company_id, decided_by_id, employee_id, order_id,
               partner_id, product_id, replacement_choice, replaces_device_id)
        SELECT o.id, l.name, l.category, l.unit_price * l.quantity, 'EUR',
               l.unit_price * l.quantity, 0, l.is_leased, o.delivery_address, '', 'approved',
               o.created_at - interval '1 hour', '', o.created_at - interval '1 day',
               o.company_id, NULL, o.employee_id, o.id, o.partner_id, l.product_id, '', NULL
        FROM orders_order o JOIN orders_orderline l ON l.id = (o.id - 1) * 2 + 1;

        INSERT INTO orders_productrequest (id, name, category, amount, currency, budget_amount,
               card_amount, is_leased, delivery_address, note, status, decided_at,
               decision_reason, created_at, company_id, decided_by_id, employee_id, order_id,
               partner_id, product_id, replacement_choice, replaces_device_id)
        SELECT %(orders)s + (c - 1) * 17 + k,
               p.name, p.category, p.price, 'EUR',
               CASE WHEN k BETWEEN 11 AND 12 THEN p.price - 200 ELSE p.price END,
               CASE WHEN k BETWEEN 11 AND 12 THEN 200 ELSE 0 END,
               p.acquisition = 'lease', 'Benchgatan 1, Stockholm', 'For the new project.',
               CASE WHEN k <= 10 THEN 'pending' WHEN k <= 12 THEN 'awaiting_payment'
                    ELSE 'rejected' END,
               CASE WHEN k > 12 THEN now() - make_interval(days => k) END,
               CASE WHEN k > 12 THEN 'Not in this year''s plan.' ELSE '' END,
               now() - make_interval(days => k, hours => c %% 24),
               c, NULL, (c - 1) * %(employees)s + k, NULL, (c - 1) / %(per_partner)s + 1,
               p.id, '', NULL
        FROM generate_series(1, %(companies)s) c
        CROSS JOIN generate_series(1, 17) k
        JOIN orders_product p ON p.id = (c - 1) * 3 + 1 + k %% 3;

        INSERT INTO budgets_budget (id, category, allowance, currency, period_months,
               period_start, period_end, adjustments, reserved, committed, spent, created_at,
               company_id, employee_id)
        SELECT u.id, '', 8000, 'EUR', 36, (now() - interval '750 days')::date,
               ((now() - interval '750 days') + interval '36 months')::date, 0,
               coalesce(r.reserved, 0), 0, 4395, now() - interval '750 days', u.company_id,
               u.id
        FROM companies_user u
        LEFT JOIN (SELECT employee_id, sum(budget_amount) AS reserved
                   FROM orders_productrequest WHERE status IN ('pending', 'awaiting_payment')
                   GROUP BY employee_id) r ON r.employee_id = u.id
        WHERE u.role = 'employee';

        INSERT INTO budgets_budgetentry (id, kind, amount, allowance_delta, reserved_delta,
               committed_delta, spent_delta, period_start, reason, actor_name, key, created_at,
               actor_id, budget_id, order_id, request_id)
        SELECT o.id, 'spend', 4395, 0, 0, 0, 4395, b.period_start, '', 'Velory',
               'bench-spend-' || o.id, o.created_at + interval '10 days', NULL, o.employee_id,
               o.id, o.id
        FROM orders_order o JOIN budgets_budget b ON b.id = o.employee_id;

        INSERT INTO budgets_budgetentry (id, kind, amount, allowance_delta, reserved_delta,
               committed_delta, spent_delta, period_start, reason, actor_name, key, created_at,
               actor_id, budget_id, order_id, request_id)
        SELECT %(orders)s + r.id, 'reserve', r.budget_amount, 0, r.budget_amount, 0, 0,
               b.period_start, '', 'Velory', 'bench-reserve-' || r.id, r.created_at, NULL,
               b.id, NULL, r.id
        FROM orders_productrequest r JOIN budgets_budget b ON b.id = r.employee_id
        WHERE r.order_id IS NULL;
        """,
    ),
    (
        "leases, mail",
        """
        INSERT INTO leasing_lease (id, starts_on, ends_on, monthly_price, buyout_price,
               currency, status, created_at, device_id, leasing_company_id, partner_id,
               choice, chosen_at, closed_at, escalated_at, last_notice_days, outcome,
               return_due_on, settled_on, settlement_amount, settlement_reference)
        SELECT d.id, d.received_on, x.ends_on, 45, 300, 'EUR',
               CASE WHEN x.closed THEN 'closed' ELSE 'active' END, d.delivered_at, d.id, 1,
               d.partner_id,
               CASE WHEN x.closed THEN ''
                    WHEN d.status = 'processing_trade_in' THEN 'return'
                    WHEN d.status = 'pending_buyout' THEN 'buyout'
                    WHEN x.ends_on < current_date + 90 AND d.id %% 2 = 0 THEN 'return'
                    ELSE '' END,
               NULL, CASE WHEN x.closed THEN d.status_changed_at END, NULL, NULL,
               CASE d.status WHEN 'traded_in' THEN 'returned' WHEN 'bought_out' THEN 'bought_out'
                             WHEN 'removed' THEN 'removed' ELSE '' END,
               CASE WHEN NOT x.closed AND (d.status = 'processing_trade_in'
                         OR (x.ends_on < current_date + 90 AND d.id %% 2 = 0))
                    THEN CASE WHEN d.id %% 10 = 0 THEN current_date - 3 ELSE x.ends_on + 14 END
               END,
               NULL, NULL, ''
        FROM devices_device d
        JOIN orders_orderline l ON l.id = d.order_line_id
        CROSS JOIN LATERAL (
            SELECT (d.received_on + make_interval(months => l.lease_months::int))::date AS ends_on,
                   d.status IN ('traded_in', 'bought_out', 'removed') AS closed
        ) x
        WHERE d.is_leased AND d.received_on IS NOT NULL;

        INSERT INTO notifications_notification (id, to_email, from_email, reply_to, kind,
               subject, body_text, body_html, dedup_key, status, attempts, last_error,
               created_at, next_attempt_at, claimed_until, sent_at, recipient_id, context,
               rendered)
        SELECT n.id, u.email, '', '', 'device_shipped', 'Your ThinkPad X1 Carbon is on its way',
               'Your ThinkPad X1 Carbon is on its way.', '', 'bench-mail-' || n.id,
               CASE WHEN n.id %% 25 = 0 THEN 'failed' WHEN n.id %% 25 = 1 THEN 'pending'
                    ELSE 'sent' END,
               CASE WHEN n.id %% 25 = 0 THEN 5 ELSE 1 END,
               CASE WHEN n.id %% 25 = 0 THEN 'Mail server refused the message.' ELSE '' END,
               now() - make_interval(days => (n.id %% 120)::int, hours => (n.id %% 24)::int),
               now(), NULL,
               CASE WHEN n.id %% 25 > 1 THEN now() - make_interval(days => (n.id %% 120)::int) END,
               u.id, '{}'::jsonb, true
        FROM (SELECT (c - 1) * 50 + k AS id, (c - 1) * %(employees)s + k AS user_id
              FROM generate_series(1, %(companies)s) c, generate_series(1, 50) k) n
        JOIN companies_user u ON u.id = n.user_id;
        """,
    ),
    (
        "history of the first partner's devices",
        """
        INSERT INTO devices_deviceevent (at, actor_name, source, transition, from_status,
               to_status, note, actor_id, company_id, device_id)
        SELECT e.at, e.actor, e.source, e.transition, e.from_status, e.to_status, '', NULL,
               d.company_id, d.id
        FROM devices_device d
        CROSS JOIN LATERAL (
            SELECT d.created_at + (coalesce(d.shipped_at, d.status_changed_at) - d.created_at)
                   / 2 AS at, 'Bench Distributor' AS actor, 'poll' AS source,
                   'start_preparing' AS transition, 'not_started' AS from_status,
                   'preparing' AS to_status
            WHERE d.status NOT IN ('ordered', 'not_started', 'cancelled')
            UNION ALL
            SELECT d.shipped_at, 'Bench Distributor', 'poll', 'ship', 'preparing', 'shipped'
            WHERE d.shipped_at IS NOT NULL
            UNION ALL
            SELECT d.delivered_at, 'Bench Distributor', 'poll', 'deliver', 'shipped',
                   'delivered'
            WHERE d.delivered_at IS NOT NULL
            UNION ALL
            SELECT least(d.received_on + interval '12 hours', now()), 'Employee', 'web',
                   'mark_received', 'delivered', 'received'
            WHERE d.received_on IS NOT NULL
            UNION ALL
            SELECT d.status_changed_at, 'Bench Distributor', 'admin', 'cancel', 'ordered',
                   'cancelled'
            WHERE d.status = 'cancelled'
        ) e
        WHERE d.partner_id = 1
        ORDER BY d.id, e.at;
        """,
    ),
]


def _typed(statement: str, params: dict) -> str:
    """The statement with its numbers cast to integer: bound on the server, a small Python
    int is a smallint, and 1000 * 200 would overflow it."""
    for key, value in params.items():
        if isinstance(value, int):
            statement = statement.replace(f"%({key})s", f"%({key})s::int")
    return statement


def _column_defaults(cursor) -> None:
    """The inserts above name the columns the bench is about; every other NOT NULL column
    gets its model's own default in this (bench-only) database, so a field added to a
    model later needs no change here."""
    from django.apps import apps
    from django.db import connection
    from psycopg import sql

    now_defaults = {"now", "localdate"}
    for model in apps.get_models():
        if model._meta.db_table not in TABLES or not model._meta.managed:
            continue
        for f in model._meta.concrete_fields:
            if f.null or f.primary_key:
                continue
            if not f.has_default():
                if not f.empty_strings_allowed or f.get_internal_type() in ("JSONField",):
                    continue
                default = ""  # a text column: Django's empty value
            else:
                default = f.default
            if callable(default):
                name = getattr(default, "__name__", "")
                if name in now_defaults:
                    literal = sql.SQL("now()")
                elif default in (dict, list):
                    literal = sql.Literal("{}" if default is dict else "[]")
                else:
                    continue
            else:
                value = f.get_db_prep_save(default, connection)
                literal = sql.Literal(getattr(value, "obj", value))
            cursor.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}")
                .format(sql.Identifier(model._meta.db_table), sql.Identifier(f.column), literal)
                .as_string(cursor.cursor.connection)
            )


def seeded() -> bool:
    from notifications.models import Notification

    return Notification.objects.filter(dedup_key=MARKER).exists()


def seed(*, companies: int = COMPANIES, employees: int = EMPLOYEES) -> float | None:
    """Write the data unless it is there; the seconds it took (None when skipped)."""
    from django.db import connection, transaction

    from companies import services as company_services
    from companies.models import Company, Partner
    from core.tenancy import Role
    from notifications.models import Notification

    if seeded():
        return None
    name = connection.settings_dict["NAME"]
    assert name.startswith("velory_bench_admin"), f"the admin seed truncates: not in {name}"
    started = time.perf_counter()
    assert companies % PARTNERS == 0 and employees >= 50  # 50 mails, 17 requests each
    params = {
        "companies": companies,
        "partners": PARTNERS,
        "per_partner": companies // PARTNERS,
        "employees": employees,
        "orders": companies * employees,
        "first": FIRST,
        "last": LAST,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # A half-written seed never commits (one transaction); what else is here goes.
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        # Every row below is built with its tenant's keys; the foreign-key triggers would
        # only queue millions of checks (the integrity query below checks them at once).
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")
        _column_defaults(cursor)
        for name, sql in STEPS:
            step = time.perf_counter()
            for statement in filter(str.strip, sql.split(";\n")):
                cursor.execute(_typed(statement, params), params)
            print(f"  seeded {name} in {time.perf_counter() - step:.0f} s", flush=True)
        for table in TABLES:
            if table == "companies_user_groups":
                continue
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        cursor.execute("SET LOCAL session_replication_role = origin")
        _check_integrity(cursor)
        partner = Partner.objects.get(pk=1)
        company = Company.objects.get(pk=1)
        staff = company_services.user_create(
            email=STAFF_EMAIL, full_name="Bench Staff", role=Role.PARTNER_STAFF, partner=partner
        )
        company_services.user_create(
            email=ADMIN_EMAIL, full_name="Bench Admin", role=Role.COMPANY_ADMIN, company=company
        )
        # The partner's own mail (what the partner staff sees in the outbox).
        cursor.execute(
            """
            INSERT INTO notifications_notification (to_email, from_email, reply_to, kind,
                   subject, body_text, body_html, dedup_key, status, attempts, last_error,
                   created_at, next_attempt_at, sent_at, recipient_id, context, rendered)
            SELECT %s, '', '', 'order_failed', 'An order could not be placed',
                   'An order could not be placed.', '', 'bench-staff-mail-' || k,
                   CASE WHEN k %% 20 = 0 THEN 'failed' ELSE 'sent' END, 1, '',
                   now() - make_interval(hours => k * 7), now(),
                   now() - make_interval(hours => k * 7), %s, '{}'::jsonb, true
            FROM generate_series(1, 300) k
            """,
            [staff.email, staff.pk],
        )
        Notification.objects.create(
            to_email="bench@bench.example",
            kind="bench",
            subject="bench seed marker",
            body_text="",
            dedup_key=MARKER,
            status=Notification.Status.SENT,
        )
    with connection.cursor() as cursor:
        step = time.perf_counter()
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        print(f"  vacuumed and analyzed in {time.perf_counter() - step:.0f} s", flush=True)
    return time.perf_counter() - started


# Each foreign key the seed writes and the tenant it must agree with: (what, query that
# counts the rows that break it).
CHECKS = {
    "device owner in the device's company": """
        SELECT count(*) FROM devices_device d JOIN companies_user u ON u.id = d.owner_id
        WHERE u.company_id <> d.company_id""",
    "device order of the same company, partner and owner": """
        SELECT count(*) FROM devices_device d JOIN orders_order o ON o.id = d.order_id
        WHERE o.company_id <> d.company_id OR o.partner_id <> d.partner_id
           OR o.employee_id <> d.owner_id""",
    "device line of its order": """
        SELECT count(*) FROM devices_device d LEFT JOIN orders_orderline l
          ON l.id = d.order_line_id WHERE l.order_id IS DISTINCT FROM d.order_id""",
    "order partner serves the company": """
        SELECT count(*) FROM orders_order o LEFT JOIN companies_partner_companies pc
          ON pc.partner_id = o.partner_id AND pc.company_id = o.company_id
        WHERE pc.id IS NULL""",
    "order line product of the order's company": """
        SELECT count(*) FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
        JOIN orders_product p ON p.id = l.product_id WHERE p.company_id <> o.company_id""",
    "request of its employee's company": """
        SELECT count(*) FROM orders_productrequest r JOIN companies_user u
          ON u.id = r.employee_id JOIN orders_product p ON p.id = r.product_id
        WHERE u.company_id <> r.company_id OR p.company_id <> r.company_id
           OR p.partner_id <> r.partner_id""",
    "budget of its employee's company": """
        SELECT count(*) FROM budgets_budget b JOIN companies_user u ON u.id = b.employee_id
        WHERE u.company_id <> b.company_id""",
    "ledger entry of an existing budget, order and request": """
        SELECT count(*) FROM budgets_budgetentry e
        LEFT JOIN budgets_budget b ON b.id = e.budget_id
        LEFT JOIN orders_order o ON o.id = e.order_id
        LEFT JOIN orders_productrequest r ON r.id = e.request_id
        WHERE b.id IS NULL OR (e.order_id IS NOT NULL AND o.id IS NULL)
           OR (e.request_id IS NOT NULL AND r.id IS NULL)""",
    "lease of a leased device, its partner": """
        SELECT count(*) FROM leasing_lease l JOIN devices_device d ON d.id = l.device_id
        WHERE NOT d.is_leased OR l.partner_id IS DISTINCT FROM d.partner_id""",
    "event of its device's company": """
        SELECT count(*) FROM devices_deviceevent e JOIN devices_device d ON d.id = e.device_id
        WHERE e.company_id <> d.company_id""",
    "mail to an existing user": """
        SELECT count(*) FROM notifications_notification n
        LEFT JOIN companies_user u ON u.id = n.recipient_id WHERE u.id IS NULL""",
}


def _check_integrity(cursor) -> None:
    step = time.perf_counter()
    broken = {}
    for what, sql in CHECKS.items():
        cursor.execute(sql)
        count = cursor.fetchone()[0]
        if count:
            broken[what] = count
    if broken:
        raise AssertionError(f"the seed broke: {broken}")
    print(f"  checked the keys in {time.perf_counter() - step:.0f} s", flush=True)
