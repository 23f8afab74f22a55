"""Realistic task kinds for generated workflows: action type, names, object and `parameters`.

The parameter shapes imitate Zuora Workflow exports (Liquid templates, string-typed numbers).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]

OBJECTS = ("Account", "Invoice", "Subscription", "Payment", "Contact", "Usage", "CreditMemo")
FIELDS = {
    "Account": ["Id", "AccountNumber", "Name", "Balance", "Status", "Currency"],
    "Invoice": ["Id", "InvoiceNumber", "Amount", "Balance", "DueDate", "Status"],
    "Subscription": ["Id", "Name", "Status", "TermEndDate", "AutoRenew"],
    "Payment": ["Id", "PaymentNumber", "Amount", "Status", "EffectiveDate"],
    "Contact": ["Id", "FirstName", "LastName", "WorkEmail", "Country"],
    "Usage": ["Id", "AccountNumber", "Quantity", "StartDateTime", "UOM"],
    "CreditMemo": ["Id", "MemoNumber", "Amount", "Status"],
}
HOSTS = ("hooks.example.com", "crm.example.net", "erp.example.org", "alerts.example.io")


def _fields(rng: random.Random, obj: str) -> list[str]:
    names = FIELDS[obj]
    return names[: rng.randint(2, len(names))]


def callout(rng: random.Random, obj: str | None) -> Params:
    return {
        "url": f"https://{rng.choice(HOSTS)}/zuora/{rng.choice(['events', 'sync', 'notify'])}",
        "datas": [{"key": "", "value": ""}],
        "method": rng.choice(["GET", "POST", "PUT"]),
        "headers": [{"key": "Content-Type", "value": "application/json"}],
        "raw_body": '{"account": "{{Data.Account.AccountNumber}}"}',
        "body_type": "raw",
        "validation": {"zuora_call": "false", "status_codes": ["", "200"]},
        "retry_rules": {
            "retry_count": str(rng.choice([0, 3, 5])),
            "retry_window": "30",
            "current_retry_count": "0",
        },
        "authorization": rng.choice([{"type": "none"}, {"type": "basic", "username": "svc"}]),
        "strict_variables": "true",
        "validate_response": "false",
        "validation_scheme": "",
        "include_response_code": "true",
    }


def query(rng: random.Random, obj: str | None) -> Params:
    table = obj or "Account"
    return {
        "zoql": f"select {', '.join(_fields(rng, table))} from {table} where Status = 'Active'",
        "fields": _fields(rng, table),
        "where_clause": {"conditions": [{"field": "Status", "operator": "=", "value": "Active"}]},
        "limit": str(rng.choice([100, 1000, 5000])),
        "data_source": rng.choice(["ZOQL", "Data Query"]),
    }


def if_clause(rng: random.Random, obj: str | None) -> Params:
    amount = rng.choice([0, 100, 500, 1000])
    return {"if_clause": f"{{{{Data.Invoice.Balance}}}} > {amount}", "liquid": "true"}


def iterate(rng: random.Random, obj: str | None) -> Params:
    return {"iterate_by": f"Data.{obj or 'Invoice'}", "concurrent_runs": str(rng.randint(1, 10))}


def email(rng: random.Random, obj: str | None) -> Params:
    return {
        "to": ["{{Data.BillToContact.WorkEmail}}"],
        "cc": [],
        "bcc": [],
        "from_name": rng.choice(["Billing", "Finance Ops", "Accounts Receivable"]),
        "reply_to": "billing@example.com",
        "subject": rng.choice(["Your invoice {{Data.Invoice.InvoiceNumber}}", "Payment failed"]),
        "body": "<p>Dear {{Data.Account.Name}},</p><p>Please find the details below.</p>",
        "attachments": [],
    }


def export(rng: random.Random, obj: str | None) -> Params:
    table = obj or "Invoice"
    return {"object": table, "fields": _fields(rng, table), "format": rng.choice(["csv", "json"])}


def write_record(rng: random.Random, obj: str | None) -> Params:
    table = obj or "Account"
    return {"fields": {name: f"{{{{Data.{table}.{name}}}}}" for name in _fields(rng, table)[1:]}}


def json_transform(rng: random.Random, obj: str | None) -> Params:
    return {
        "processor": "jsonata",
        "template": '$.Invoice[Balance > 0].{"id": Id, "balance": Balance}',
        "placement": rng.choice(["Transformed", "Normalized", "Payload"]),
    }


def custom_object_query(rng: random.Random, obj: str | None) -> Params:
    return {
        "object_name": rng.choice(["default__vehicle", "default__contract_term"]),
        "filters": [{"field": "status__c", "operator": "EQ", "value": "active"}],
        "limit": str(rng.choice([50, 100])),
    }


def bill_run(rng: random.Random, obj: str | None) -> Params:
    return {
        "invoice_date": "{{Data.Workflow.RunDate}}",
        "target_date": "{{Data.Workflow.RunDate}}",
        "batches": rng.choice([["AllBatches"], ["Batch1", "Batch2"]]),
        "auto_post": rng.choice(["true", "false"]),
        "auto_email": "false",
        "no_email_for_zero_amount_invoice": "true",
    }


def delay(rng: random.Random, obj: str | None) -> Params:
    return {"delay": str(rng.choice([60, 3600, 86400])), "unit": "seconds"}


def approval(rng: random.Random, obj: str | None) -> Params:
    return {
        "approvers": [rng.choice(["finance@example.com", "cfo@example.com"])],
        "message": "Please approve the credit for {{Data.Account.Name}}",
        "expiry_hours": str(rng.choice([24, 48, 72])),
    }


def payment_run(rng: random.Random, obj: str | None) -> Params:
    return {"target_date": "{{Data.Workflow.RunDate}}", "auto_apply_credit_balance": "true"}


def lambda_code(rng: random.Random, obj: str | None) -> Params:
    return {
        "runtime": "nodejs18.x",
        "code": "exports.handler = async (event) => ({ total: event.Invoice.length });",
        "timeout": str(rng.choice([10, 30])),
    }


@dataclass(frozen=True)
class TaskKind:
    """A kind of task the generator can place in a workflow."""

    action_type: str
    names: tuple[str, ...]
    build: Callable[[random.Random, str | None], Params]
    weight: int = 1
    has_object: bool = False
    call_type: str | None = None


KINDS = (
    TaskKind("Callout", ("Notify CRM", "Post webhook", "Call ERP"), callout, 4, call_type="SOAP"),
    TaskKind("Query", ("Find accounts", "Load invoices"), query, 4, True, "SOAP"),
    TaskKind("If", ("Balance over threshold?", "Is overdue?"), if_clause, 3),
    TaskKind("Iterate", ("For each invoice", "For each account"), iterate, 2, True),
    TaskKind("Email", ("Email customer", "Email finance"), email, 3),
    TaskKind("Export", ("Export invoices", "Export usage"), export, 1, True, "SOAP"),
    TaskKind("Create", ("Create usage", "Create contact"), write_record, 2, True, "SOAP"),
    TaskKind("Update", ("Update account", "Flag subscription"), write_record, 2, True, "SOAP"),
    TaskKind("Logic::JSONTransform", ("Shape payload", "Map response"), json_transform, 2),
    TaskKind("CustomObject::Query", ("Query custom records",), custom_object_query, 1),
    TaskKind("Billing::BillRun", ("Run bill run",), bill_run, 1),
    TaskKind("Delay", ("Wait a day", "Wait an hour"), delay, 1),
    TaskKind("Approval", ("Finance approval",), approval, 1),
    TaskKind("Payment::PaymentRun", ("Collect payments",), payment_run, 1),
    TaskKind("Logic::Lambda", ("Compute totals",), lambda_code, 1),
)
WEIGHTS = tuple(kind.weight for kind in KINDS)
EMAIL_KIND = next(kind for kind in KINDS if kind.action_type == "Email")
