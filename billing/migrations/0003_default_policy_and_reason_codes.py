"""The default policy of SPEC §3: limits per role, action kind and currency, and reason codes.

Amounts are USD minor units; trial extensions count days. A NULL cap is no cap; a cap of 0 is
"request only". Each row also gets its first history row, so the audit log shows where the
defaults came from.
"""

from django.db import migrations
from django.utils import timezone

USD = "usd"
DIRECT = (None, None)
REQUEST_ONLY = (0, 0)

NON_MONEY_KINDS = [
    "price_change",
    "seat_change",
    "discount",
    "pause_collection",
    "resume_collection",
    "cancel",
    "reactivate",
    "entitlement_override",
    "invoice_void",
    "invoice_mark_uncollectible",
    "invoice_retry_payment",
]

LIMITS = {
    "support": [
        ("refund", USD, (10_000, 50_000)),
        ("credit", USD, REQUEST_ONLY),
        ("credit_reversal", USD, REQUEST_ONLY),
        ("trial_extension", "", (30, None)),
        ("price_change", "", REQUEST_ONLY),
        ("seat_change", "", REQUEST_ONLY),
        ("discount", "", REQUEST_ONLY),
    ],
    "finance": [
        ("refund", USD, (500_000, 2_000_000)),
        ("credit", USD, (200_000, 1_000_000)),
        ("credit_reversal", USD, (200_000, 1_000_000)),
        ("trial_extension", "", DIRECT),
        *[(kind, "", DIRECT) for kind in NON_MONEY_KINDS],
    ],
    "admin": [
        ("refund", USD, (1_000_000, 5_000_000)),
        ("credit", USD, (1_000_000, 5_000_000)),
        ("credit_reversal", USD, (1_000_000, 5_000_000)),
        ("trial_extension", "", DIRECT),
        *[(kind, "", DIRECT) for kind in NON_MONEY_KINDS],
    ],
    "auditor": [],
}

OTHER = ("other", "Other (explain in the note)")
REASON_CODES = {
    "refund": [
        ("duplicate", "Duplicate charge"),
        ("fraudulent", "Fraudulent charge"),
        ("requested_by_customer", "Requested by customer"),
        ("service_issue", "Service issue"),
        ("billing_error", "Billing error"),
        OTHER,
    ],
    "credit": [
        ("service_outage", "Service outage"),
        ("goodwill", "Goodwill"),
        ("billing_error", "Billing error"),
        ("promotion", "Promotion"),
        OTHER,
    ],
    "credit_reversal": [("issued_in_error", "Credit issued in error"), OTHER],
    "price_change": [
        ("customer_request", "Customer request"),
        ("sales_agreement", "Sales agreement"),
        ("billing_error", "Billing error"),
        OTHER,
    ],
    "seat_change": [
        ("customer_request", "Customer request"),
        ("billing_error", "Billing error"),
        OTHER,
    ],
    "trial_extension": [
        ("evaluation_in_progress", "Evaluation still in progress"),
        ("service_issue", "Service issue during the trial"),
        ("sales_request", "Requested by sales"),
        OTHER,
    ],
    "discount": [
        ("retention", "Retention offer"),
        ("sales_agreement", "Sales agreement"),
        ("promotion", "Promotion"),
        OTHER,
    ],
    "pause_collection": [
        ("customer_request", "Customer request"),
        ("payment_dispute", "Payment under dispute"),
        OTHER,
    ],
    "resume_collection": [("issue_resolved", "Issue resolved"), OTHER],
    "cancel": [
        ("customer_request", "Customer request"),
        ("fraudulent", "Fraudulent account"),
        ("non_payment", "Non-payment"),
        OTHER,
    ],
    "reactivate": [("customer_request", "Customer request"), OTHER],
    "entitlement_override": [
        ("evaluation", "Evaluation"),
        ("service_issue", "Compensation for a service issue"),
        ("sales_agreement", "Sales agreement"),
        OTHER,
    ],
    "invoice_void": [
        ("billing_error", "Billing error"),
        ("duplicate", "Duplicate invoice"),
        OTHER,
    ],
    "invoice_mark_uncollectible": [
        ("unrecoverable", "Unrecoverable debt"),
        ("customer_insolvent", "Customer insolvent"),
        OTHER,
    ],
    "invoice_retry_payment": [
        ("card_updated", "Customer updated their card"),
        ("customer_request", "Customer request"),
        OTHER,
    ],
}

REASON = "Default policy and reason codes (SPEC §3)"


def _record_creation(apps, model_name, row, now):
    """Write the '+' history row simple-history would have written outside a migration."""
    History = apps.get_model("billing", f"Historical{model_name}")
    values = {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
    History.objects.create(
        **values,
        history_date=now,
        history_type="+",
        history_change_reason=REASON,
        history_user_id=None,
    )


def create_defaults(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    PolicyLimit = apps.get_model("billing", "PolicyLimit")
    ReasonCode = apps.get_model("billing", "ReasonCode")
    now = timezone.now()
    for role_name, rows in LIMITS.items():
        role = Group.objects.get(name=role_name)
        for kind, currency, (per_action, per_day) in rows:
            limit = PolicyLimit.objects.create(
                role=role, kind=kind, currency=currency, per_action=per_action, per_day=per_day
            )
            _record_creation(apps, "PolicyLimit", limit, now)
    for kind, codes in REASON_CODES.items():
        for position, (code, label) in enumerate(codes):
            reason = ReasonCode.objects.create(
                kind=kind,
                code=code,
                label=label,
                requires_note=code == "other",
                position=position,
            )
            _record_creation(apps, "ReasonCode", reason, now)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_append_only_and_search_indexes"),
        ("accounts", "0002_roles_and_append_only_history"),
    ]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
