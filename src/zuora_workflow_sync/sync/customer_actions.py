"""An operator's actions on one customer (`workflow-sync customers reset/set-status`, the
dashboard's Reset circuit and Pause / Resume): one write each, then what it calls for."""

from __future__ import annotations

from zuora_workflow_sync.domain.circuit import Circuit
from zuora_workflow_sync.domain.models import Customer, CustomerStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.customers import CustomerNotFoundError


def require_customer(runtime: Runtime, customer_id: int) -> Customer:
    customer = runtime.customers.get(customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer with id {customer_id}")
    return customer


def reset_circuit(runtime: Runtime, customer_id: int) -> tuple[Customer, Circuit]:
    """Close the customer's circuit (failures 0, attention reason cleared) and send the
    resolved notice when it was open: the customer and its circuit before the reset."""
    customer = require_customer(runtime, customer_id)
    previous = runtime.customers.reset_circuit(customer.id)
    runtime.failure_alerts().after_reset(customer.id, customer.name, previous.circuit)
    return customer, previous.circuit


def set_status(runtime: Runtime, customer_id: int, status: CustomerStatus) -> None:
    """Active customers are dispatched; paused and disabled ones are kept and not synced."""
    runtime.customers.set_status(customer_id, status)
