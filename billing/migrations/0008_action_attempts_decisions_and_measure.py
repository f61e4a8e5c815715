"""Actions count their policy measure in one column; attempts go to an insert-only log (so an
action's history holds one row per state change); each approval's decision is an insert-only
record whose payload hash execution checks; the `act_directly` permission separates roles
that act within their limits from those that only ask.

Existing rows are brought in line: their measure is filled, the payload hash of those still
to run is recomputed over it (with a history row each), and every decided approval gets its
decision record.
"""

import hashlib
import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from accounts.audit import append_only_triggers
from accounts.roles import sync_roles

REASON = "Policy measure stored on each action; decisions recorded insert-only"
MONEY_KINDS = {"refund", "credit", "credit_reversal"}


def _hash(action):
    exact = {
        "kind": action.kind,
        "payload": action.payload,
        "amount": action.amount,
        "measure": action.measure,
        "currency": action.currency,
        "customer": action.customer_id,
        "payment": action.payment_id,
        "subscription": action.subscription_id,
        "invoice": action.invoice_id,
        "balance_transaction": action.balance_transaction_id,
    }
    canonical = json.dumps(exact, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _history(model, row, now, history_model):
    values = {
        field.attname: getattr(row, field.attname)
        for field in model._meta.concrete_fields
        if field.attname in {f.attname for f in history_model._meta.concrete_fields}
    }
    history_model.objects.create(
        **values,
        history_date=now,
        history_type="~",
        history_change_reason=REASON,
        history_user_id=None,
    )


def bring_rows_in_line(apps, schema_editor):
    Action = apps.get_model("billing", "Action")
    HistoricalAction = apps.get_model("billing", "HistoricalAction")
    ApprovalRequest = apps.get_model("billing", "ApprovalRequest")
    HistoricalApprovalRequest = apps.get_model("billing", "HistoricalApprovalRequest")
    DecisionRecord = apps.get_model("billing", "DecisionRecord")
    now = timezone.now()
    for action in Action.objects.all().iterator():
        if action.kind in MONEY_KINDS:
            action.measure = action.amount
        elif action.kind == "trial_extension":
            action.measure = (action.payload or {}).get("days")
        if action.measure is None:
            continue
        if action.state in ("pending_approval", "approved", "executing"):
            action.payload_hash = _hash(action)
        action.save(update_fields=["measure", "payload_hash"])
        _history(Action, action, now, HistoricalAction)
    for approval in ApprovalRequest.objects.select_related("action"):
        current = _hash(approval.action)
        if approval.decision == "" and approval.payload_hash != current:
            approval.payload_hash = current
            approval.save(update_fields=["payload_hash"])
            _history(ApprovalRequest, approval, now, HistoricalApprovalRequest)
        if approval.decision:
            DecisionRecord.objects.create(
                approval=approval,
                decision=approval.decision,
                decided_by_id=approval.decided_by_id,
                payload_hash=current,
                note=approval.decision_note,
                decided_at=approval.decided_at,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_default_limits_for_demo_currencies"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ActionAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("done", "Stripe made the change"),
                            ("found", "Found already made at Stripe"),
                            ("refused", "Stripe refused"),
                            ("unanswered", "No answer from Stripe"),
                            ("stopped", "Stopped before asking Stripe"),
                        ],
                        max_length=10,
                    ),
                ),
                ("error_code", models.CharField(blank=True, max_length=60)),
                ("error_message", models.TextField(blank=True)),
                ("stripe_request_id", models.CharField(blank=True, max_length=255)),
            ],
            options={
                "ordering": ["action", "number", "id"],
                "default_permissions": ("view",),
            },
        ),
        migrations.CreateModel(
            name="DecisionRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("expired", "Expired"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        max_length=10,
                    ),
                ),
                ("payload_hash", models.CharField(max_length=64)),
                ("note", models.TextField(blank=True)),
                ("decided_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["-decided_at", "-id"],
                "default_permissions": ("view",),
            },
        ),
        migrations.AlterModelOptions(
            name="action",
            options={
                "default_permissions": ("view",),
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("request_action", "Request changes to a customer's billing (within policy)"),
                    ("act_directly", "Act directly within one's limits, without an approval"),
                    ("approve_action", "Approve or reject other staff members' requests"),
                    ("export_data", "Export data as CSV"),
                    ("view_audit_log", "View the global audit log"),
                ],
            },
        ),
        migrations.RemoveIndex(
            model_name="action",
            name="action_actor_created",
        ),
        migrations.RemoveField(
            model_name="historicalaction",
            name="attempts",
        ),
        migrations.RemoveField(
            model_name="historicalaction",
            name="next_attempt_at",
        ),
        migrations.RemoveField(
            model_name="historicalaction",
            name="updated_at",
        ),
        migrations.AddField(
            model_name="action",
            name="measure",
            field=models.BigIntegerField(
                blank=True,
                help_text="What the policy limits count: the amount (money kinds) or days (trials).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="action",
            name="stripe_answered_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When Stripe's answer that the change was made came.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="historicalaction",
            name="measure",
            field=models.BigIntegerField(
                blank=True,
                help_text="What the policy limits count: the amount (money kinds) or days (trials).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="historicalaction",
            name="stripe_answered_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When Stripe's answer that the change was made came.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="action",
            name="stripe_metadata",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Sent with every attempt; fixed when the action starts executing, so that retries match the first.",
            ),
        ),
        migrations.AlterField(
            model_name="historicalaction",
            name="stripe_metadata",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Sent with every attempt; fixed when the action starts executing, so that retries match the first.",
            ),
        ),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                fields=["actor", "kind", "currency", "-created_at"], name="action_actor_window"
            ),
        ),
        migrations.AddIndex(
            model_name="approvalrequest",
            index=models.Index(fields=["-decided_at"], name="approval_decided"),
        ),
        migrations.AddConstraint(
            model_name="action",
            constraint=models.CheckConstraint(
                condition=models.Q(("measure__isnull", True), ("measure__gt", 0), _connector="OR"),
                name="action_measure_positive",
            ),
        ),
        migrations.AddField(
            model_name="actionattempt",
            name="action",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="attempt_log",
                to="billing.action",
            ),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="approval",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="record",
                to="billing.approvalrequest",
            ),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="decided_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="actionattempt",
            index=models.Index(fields=["action", "-number"], name="attempt_action_number"),
        ),
        migrations.RunPython(bring_rows_in_line, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(sync_roles, migrations.RunPython.noop, elidable=False),
        append_only_triggers("billing_actionattempt", "billing_decisionrecord"),
    ]
