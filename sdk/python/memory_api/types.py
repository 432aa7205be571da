"""Typed results. Every field defaults to None so that an older or newer server,
with fields missing or added, still parses; ``raw`` keeps the whole object as sent,
which is where fields this SDK does not know yet can be read.

Times stay RFC 3339 strings, exactly as the server sent them: parsing them would
lose precision (the server sends nanoseconds) on Python versions we support.
"""

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Tuple, Type, TypeVar

T = TypeVar("T", bound="Model")


@dataclass
class Model:
    # Field name -> (model class, is_list) for the fields that hold nested objects.
    _nested: ClassVar[Dict[str, Tuple[str, bool]]] = {}

    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: Type[T], data: Optional[Dict[str, Any]]) -> T:
        data = data or {}
        known = {f.name for f in fields(cls) if f.name != "raw"}
        kwargs = {k: v for k, v in data.items() if k in known}
        for name, (type_name, is_list) in cls._nested.items():
            value = kwargs.get(name)
            if value is None:
                continue
            model = _MODELS[type_name]
            kwargs[name] = [model.from_dict(v) for v in value] if is_list else model.from_dict(value)
        return cls(raw=data, **kwargs)


@dataclass
class Memory(Model):
    id: Optional[str] = None
    text: Optional[str] = None
    metadata: Optional[Dict[str, Any]] = None
    user_id: Optional[str] = None
    agent_id: Optional[str] = None
    session_id: Optional[str] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
    version: Optional[int] = None
    expires_at: Optional[str] = None
    # Only on retrieval results: 0 to 1, higher is more relevant.
    relevance: Optional[float] = None


@dataclass
class MemoryList(Model):
    _nested = {"memories": ("Memory", True)}
    memories: List[Memory] = field(default_factory=list)
    next_cursor: Optional[str] = None


@dataclass
class MemoriesDeleted(Model):
    deleted: Optional[int] = None


@dataclass
class MemoryEvent(Model):
    event: Optional[str] = None  # ADD, UPDATE or DELETE
    text: Optional[str] = None
    previous_text: Optional[str] = None
    at: Optional[str] = None
    source: Optional[str] = None
    job_id: Optional[str] = None


@dataclass
class MemoryHistory(Model):
    _nested = {"events": ("MemoryEvent", True)}
    events: List[MemoryEvent] = field(default_factory=list)

    def __iter__(self) -> Iterator[MemoryEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


@dataclass
class QueryResult(Model):
    _nested = {"memories": ("Memory", True)}
    memories: List[Memory] = field(default_factory=list)

    # Iterating a result iterates its memories, most relevant first.
    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)


@dataclass
class QueryAnswer(Model):
    _nested = {"memories": ("Memory", True)}
    response: Optional[str] = None
    memories: List[Memory] = field(default_factory=list)
    model: Optional[str] = None
    grounded: Optional[bool] = None


@dataclass
class JobProgress(Model):
    total: Optional[int] = None
    done: Optional[int] = None
    failed: Optional[int] = None


@dataclass
class JobError(Model):
    code: Optional[str] = None
    message: Optional[str] = None


TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "canceled"})


@dataclass
class Job(Model):
    _nested = {"progress": ("JobProgress", False), "error": ("JobError", False)}
    id: Optional[str] = None
    type: Optional[str] = None  # extract or embeddings
    status: Optional[str] = None  # queued, running, succeeded, failed or canceled
    progress: Optional[JobProgress] = None
    result: Optional[Dict[str, Any]] = None
    error: Optional[JobError] = None
    created_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


@dataclass
class Org(Model):
    id: Optional[str] = None
    name: Optional[str] = None
    plan: Optional[str] = None
    created_at: Optional[str] = None


@dataclass
class AccountKey(Model):
    id: Optional[str] = None
    prefix: Optional[str] = None
    scopes: Optional[List[str]] = None
    mode: Optional[str] = None


@dataclass
class Account(Model):
    _nested = {"org": ("Org", False), "api_key": ("AccountKey", False)}
    org: Optional[Org] = None
    # requests_per_minute, requests_per_day, concurrent, monthly: {metric: limit or None}
    limits: Optional[Dict[str, Any]] = None
    api_key: Optional[AccountKey] = None


@dataclass
class ApiKey(Model):
    id: Optional[str] = None
    name: Optional[str] = None
    prefix: Optional[str] = None
    scopes: Optional[List[str]] = None
    mode: Optional[str] = None
    created_at: Optional[str] = None
    expires_at: Optional[str] = None
    last_used_at: Optional[str] = None
    revoked_at: Optional[str] = None
    # The whole secret: only on the answer of create and rotate.
    key: Optional[str] = None


@dataclass
class ApiKeyRevoked(Model):
    id: Optional[str] = None
    revoked: Optional[bool] = None


@dataclass
class Period(Model):
    start: Optional[str] = None
    end: Optional[str] = None


@dataclass
class Usage(Model):
    _nested = {"period": ("Period", False)}
    period: Optional[Period] = None
    plan: Optional[str] = None
    # api_calls, tokens_input, tokens_output, tokens_processed, memories_stored, ...
    usage: Optional[Dict[str, int]] = None
    limits: Optional[Dict[str, Any]] = None
    # base_usd, overage_usd, total_usd, projected_total_usd
    cost: Optional[Dict[str, float]] = None


@dataclass
class UsageHistory(Model):
    # Each bucket: {"start", "group"?, and one number per metric}.
    buckets: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class Deleted(Model):
    """The answer of a delete: the id and ``deleted=True``."""
    id: Optional[str] = None
    deleted: Optional[bool] = None


@dataclass
class InvoiceLine(Model):
    description: Optional[str] = None
    metric: Optional[str] = None  # None for the plan's base fee
    quantity: Optional[int] = None
    unit_price_usd: Optional[float] = None
    amount_usd: Optional[float] = None


@dataclass
class Invoice(Model):
    _nested = {"period": ("Period", False), "lines": ("InvoiceLine", True)}
    id: Optional[str] = None
    period: Optional[Period] = None
    status: Optional[str] = None  # draft, open, paid, payment_failed or void
    lines: List[InvoiceLine] = field(default_factory=list)
    subtotal_usd: Optional[float] = None
    total_usd: Optional[float] = None
    stripe_invoice_id: Optional[str] = None


@dataclass
class InvoiceList(Model):
    _nested = {"invoices": ("Invoice", True)}
    invoices: List[Invoice] = field(default_factory=list)
    next_cursor: Optional[str] = None


@dataclass
class Alert(Model):
    id: Optional[str] = None
    metric: Optional[str] = None  # monthly_spend, api_calls, tokens, memories or embeddings
    threshold: Optional[float] = None
    threshold_type: Optional[str] = None  # absolute or percent_of_limit
    notify: Optional[List[str]] = None  # email, webhook
    created_at: Optional[str] = None
    last_triggered_at: Optional[str] = None


@dataclass
class Webhook(Model):
    id: Optional[str] = None
    url: Optional[str] = None
    events: Optional[List[str]] = None
    created_at: Optional[str] = None
    # The signing secret (whsec_...): only on the answer of create.
    secret: Optional[str] = None


@dataclass
class WebhookDeliveryAttempt(Model):
    attempted_at: Optional[str] = None
    response_status: Optional[int] = None  # None when nothing came back (refused, timed out)
    error: Optional[str] = None  # None when the endpoint answered 2xx


@dataclass
class WebhookDelivery(Model):
    _nested = {"attempt_log": ("WebhookDeliveryAttempt", True)}
    id: Optional[str] = None  # evt_..., also the webhook-id header of the request
    event: Optional[str] = None
    status: Optional[str] = None  # pending, succeeded or failed
    attempts: Optional[int] = None
    response_status: Optional[int] = None
    created_at: Optional[str] = None
    last_attempt_at: Optional[str] = None
    next_attempt_at: Optional[str] = None
    # Every attempt so far, oldest first.
    attempt_log: List[WebhookDeliveryAttempt] = field(default_factory=list)


@dataclass
class WebhookDeliveryList(Model):
    _nested = {"deliveries": ("WebhookDelivery", True)}
    deliveries: List[WebhookDelivery] = field(default_factory=list)
    next_cursor: Optional[str] = None


@dataclass
class AuditEvent(Model):
    id: Optional[str] = None
    at: Optional[str] = None
    org_id: Optional[str] = None
    key_id: Optional[str] = None
    endpoint: Optional[str] = None  # e.g. "POST /v1/memories"
    ip: Optional[str] = None
    user_agent: Optional[str] = None
    request_id: Optional[str] = None
    status: Optional[int] = None
    duration_ms: Optional[float] = None
    tokens: Optional[int] = None


@dataclass
class AuditList(Model):
    _nested = {"events": ("AuditEvent", True)}
    events: List[AuditEvent] = field(default_factory=list)
    next_cursor: Optional[str] = None


# The answer of DELETE /v1/memories/{id} has the same shape as every other delete.
MemoryDeleted = Deleted

_MODELS: Dict[str, Type[Model]] = {
    cls.__name__: cls
    for cls in (Memory, MemoryEvent, JobProgress, JobError, Org, AccountKey, Period, Invoice, InvoiceLine,
                WebhookDelivery, WebhookDeliveryAttempt, AuditEvent)
}
