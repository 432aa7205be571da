"""The API's resources, one class each, reached as attributes of MemoryClient."""

import time
from urllib.parse import quote
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from ._transport import Transport, compact
from .types import (
    Account,
    Alert,
    ApiKey,
    ApiKeyRevoked,
    AuditEvent,
    AuditList,
    Deleted,
    Invoice,
    InvoiceList,
    Job,
    Memory,
    MemoriesDeleted,
    MemoryDeleted,
    MemoryHistory,
    MemoryList,
    Usage,
    UsageHistory,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryList,
)

Metadata = Dict[str, Any]


def paginate(fetch: Callable[[Optional[str]], Any], items: str) -> Iterator[Any]:
    """Every item of a cursor-paginated list: ``fetch(cursor)`` gets one page, whose
    ``items`` attribute holds the page's items; pages are fetched as the loop needs them."""
    cursor = None
    while True:
        page = fetch(cursor)
        yield from getattr(page, items)
        cursor = page.next_cursor
        if not cursor:
            return


def _path_id(value: str) -> str:
    # Ids are opaque; quote them so a stray "/" or "?" cannot change the route.
    return quote(value, safe="")


class _Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


class Memories(_Resource):
    def create(
        self,
        text: str,
        *,
        metadata: Optional[Metadata] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        expires_at: Any = None,
        idempotency_key: Optional[str] = None,
    ) -> Memory:
        body = compact(
            text=text, metadata=metadata, user_id=user_id, agent_id=agent_id,
            session_id=session_id, expires_at=expires_at,
        )
        resp = self._t.request("POST", "/v1/memories", body=body, idempotency_key=idempotency_key)
        return Memory.from_dict(resp.data)

    def get(self, memory_id: str) -> Memory:
        return Memory.from_dict(self._t.request("GET", f"/v1/memories/{_path_id(memory_id)}").data)

    def list(
        self,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> MemoryList:
        query = dict(limit=limit, cursor=cursor, user_id=user_id, agent_id=agent_id, session_id=session_id)
        return MemoryList.from_dict(self._t.request("GET", "/v1/memories", query=query).data)

    def list_all(
        self,
        *,
        limit: int = 100,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> Iterator[Memory]:
        """Every memory, newest first, fetching pages of ``limit`` as the loop needs them."""
        return paginate(
            lambda cursor: self.list(limit=limit, cursor=cursor, user_id=user_id, agent_id=agent_id,
                                     session_id=session_id),
            "memories",
        )

    def update(
        self,
        memory_id: str,
        *,
        text: Optional[str] = None,
        metadata: Optional[Metadata] = None,
        expires_at: Any = None,
    ) -> Memory:
        """Replaces the given fields; the memory's ``version`` goes up by one."""
        body = compact(text=text, metadata=metadata, expires_at=expires_at)
        return Memory.from_dict(self._t.request("PUT", f"/v1/memories/{_path_id(memory_id)}", body=body).data)

    def delete(self, memory_id: str) -> MemoryDeleted:
        return MemoryDeleted.from_dict(self._t.request("DELETE", f"/v1/memories/{_path_id(memory_id)}").data)

    def delete_all(
        self,
        *,
        confirm: bool = False,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> MemoriesDeleted:
        """Deletes every memory in scope. Without ``confirm=True`` the server refuses
        with ConfirmationRequiredError: the SDK never confirms on the caller's behalf."""
        query = dict(confirm=True if confirm else None, user_id=user_id, agent_id=agent_id, session_id=session_id)
        return MemoriesDeleted.from_dict(self._t.request("DELETE", "/v1/memories", query=query).data)

    def history(self, memory_id: str) -> MemoryHistory:
        path = f"/v1/memories/{_path_id(memory_id)}/history"
        return MemoryHistory.from_dict(self._t.request("GET", path).data)

    def batch_create(
        self, memories: Sequence[Dict[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> List[Memory]:
        """Creates up to 1000 memories in one all-or-nothing call, in request order."""
        body = {"memories": [compact(**m) for m in memories]}
        resp = self._t.request("POST", "/v1/batch/memories", body=body, idempotency_key=idempotency_key)
        return [Memory.from_dict(m) for m in (resp.data or {}).get("memories", [])]


class Batch(_Resource):
    def extract(
        self,
        messages: Sequence[Dict[str, Any]],
        *,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        metadata: Optional[Metadata] = None,
        idempotency_key: Optional[str] = None,
    ) -> Job:
        """Starts a job extracting memories from a dialogue: ``[{"role", "content"}]``."""
        body = compact(
            messages=[compact(**m) for m in messages], user_id=user_id, agent_id=agent_id,
            session_id=session_id, metadata=metadata,
        )
        resp = self._t.request("POST", "/v1/batch/extract", body=body, idempotency_key=idempotency_key)
        return Job.from_dict((resp.data or {}).get("job"))

    def embeddings(
        self, memory_ids: Optional[Sequence[str]] = None, *, idempotency_key: Optional[str] = None
    ) -> Job:
        """Starts a job re-embedding the given memories, or all of them."""
        body = compact(memory_ids=list(memory_ids) if memory_ids is not None else None)
        resp = self._t.request("POST", "/v1/batch/embeddings", body=body, idempotency_key=idempotency_key)
        return Job.from_dict((resp.data or {}).get("job"))


class Jobs(_Resource):
    def get(self, job_id: str) -> Job:
        return Job.from_dict(self._t.request("GET", f"/v1/batch/{_path_id(job_id)}").data)

    def cancel(self, job: Union[str, Job]) -> Job:
        """Cancels a queued or running job; what it already committed stays. A job that
        has succeeded or failed cannot be canceled (InvalidRequestError)."""
        job_id = job.id if isinstance(job, Job) else job
        return Job.from_dict(self._t.request("DELETE", f"/v1/batch/{_path_id(job_id)}").data)

    def wait(self, job: Union[str, Job], *, poll_interval: float = 1.0, timeout: Optional[float] = 300.0) -> Job:
        """Polls until the job is succeeded, failed or canceled, and returns it.
        Raises TimeoutError if it is still going after ``timeout`` seconds."""
        job_id = job.id if isinstance(job, Job) else job
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get(job_id)
            if current.is_terminal:
                return current
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                raise TimeoutError(f"job {job_id} still {current.status} after {timeout} s")
            time.sleep(poll_interval)


class UsageResource(_Resource):
    def get(self) -> Usage:
        return Usage.from_dict(self._t.request("GET", "/v1/usage").data)

    def history(
        self,
        *,
        from_: Any = None,
        to: Any = None,
        granularity: Optional[str] = None,
        group_by: Optional[str] = None,
        format: Optional[str] = None,
    ) -> Union[UsageHistory, str]:
        """Usage buckets; with ``format="csv"`` the CSV text as the server sent it."""
        # "from" is a Python keyword, hence ``from_`` in the signature.
        query = compact(**{"from": from_, "to": to}, granularity=granularity, group_by=group_by, format=format)
        resp = self._t.request("GET", "/v1/usage/history", query=query, raw=format == "csv")
        return resp.data if format == "csv" else UsageHistory.from_dict(resp.data)


class AccountResource(_Resource):
    def get(self) -> Account:
        return Account.from_dict(self._t.request("GET", "/v1/account").data)

    def audit(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, format: Optional[str] = None
    ) -> Union[AuditList, str]:
        """A page of the org's audit log, newest first; with ``format="jsonl"`` every kept
        event (after ``cursor``), oldest first, as the JSON-lines text the server sent."""
        query = dict(limit=limit, cursor=cursor, format=format)
        resp = self._t.request("GET", "/v1/account/audit", query=query, raw=format == "jsonl")
        return resp.data if format == "jsonl" else AuditList.from_dict(resp.data)

    def audit_all(self, *, limit: int = 100) -> Iterator[AuditEvent]:
        """Every audit event kept, newest first, page by page."""
        return paginate(lambda cursor: self.audit(limit=limit, cursor=cursor), "events")


class Keys(_Resource):
    def list(self) -> List[ApiKey]:
        data = self._t.request("GET", "/v1/account/api-keys").data or {}
        return [ApiKey.from_dict(k) for k in data.get("api_keys", [])]

    def create(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        mode: Optional[str] = None,
        expires_at: Any = None,
        idempotency_key: Optional[str] = None,
    ) -> ApiKey:
        """A new key; its whole secret is in ``.key``, and only in this answer."""
        body = compact(name=name, scopes=list(scopes), mode=mode, expires_at=expires_at)
        resp = self._t.request("POST", "/v1/account/api-keys", body=body, idempotency_key=idempotency_key)
        return ApiKey.from_dict((resp.data or {}).get("api_key"))

    def revoke(self, key_id: str) -> ApiKeyRevoked:
        return ApiKeyRevoked.from_dict(self._t.request("DELETE", f"/v1/account/api-keys/{_path_id(key_id)}").data)

    def rotate(
        self, key_id: str, *, grace_period_seconds: Optional[int] = None, idempotency_key: Optional[str] = None
    ) -> ApiKey:
        """A new key like the old one; the old one keeps working for the grace period."""
        body = compact(grace_period_seconds=grace_period_seconds)
        path = f"/v1/account/api-keys/{_path_id(key_id)}/rotate"
        resp = self._t.request("POST", path, body=body, idempotency_key=idempotency_key)
        return ApiKey.from_dict((resp.data or {}).get("api_key"))


class Invoices(_Resource):
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> InvoiceList:
        """A page of the org's invoices, newest period first (none for a test-mode key)."""
        return InvoiceList.from_dict(
            self._t.request("GET", "/v1/billing/invoices", query=dict(limit=limit, cursor=cursor)).data)

    def list_all(self, *, limit: int = 100) -> Iterator[Invoice]:
        return paginate(lambda cursor: self.list(limit=limit, cursor=cursor), "invoices")

    def get(self, invoice_id: str) -> Invoice:
        return Invoice.from_dict(self._t.request("GET", f"/v1/billing/invoices/{_path_id(invoice_id)}").data)


class Billing(_Resource):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.invoices = Invoices(transport)


class Alerts(_Resource):
    def list(self) -> List[Alert]:
        data = self._t.request("GET", "/v1/alerts").data or {}
        return [Alert.from_dict(a) for a in data.get("alerts", [])]

    def create(
        self,
        metric: str,
        threshold: float,
        threshold_type: str,
        notify: Sequence[str],
        *,
        idempotency_key: Optional[str] = None,
    ) -> Alert:
        """An alert on ``metric`` (monthly_spend, api_calls, tokens, memories, embeddings)
        at ``threshold``, ``absolute`` or ``percent_of_limit``; ``notify`` ⊆ email, webhook."""
        body = compact(metric=metric, threshold=threshold, threshold_type=threshold_type, notify=list(notify))
        return Alert.from_dict(self._t.request("POST", "/v1/alerts", body=body, idempotency_key=idempotency_key).data)

    def delete(self, alert_id: str) -> Deleted:
        return Deleted.from_dict(self._t.request("DELETE", f"/v1/alerts/{_path_id(alert_id)}").data)


class Webhooks(_Resource):
    def list(self) -> List[Webhook]:
        data = self._t.request("GET", "/v1/webhooks").data or {}
        return [Webhook.from_dict(w) for w in data.get("webhooks", [])]

    def create(self, url: str, events: Sequence[str], *, idempotency_key: Optional[str] = None) -> Webhook:
        """A new endpoint; its signing secret is in ``.secret``, and only in this answer."""
        body = compact(url=url, events=list(events))
        return Webhook.from_dict(self._t.request("POST", "/v1/webhooks", body=body, idempotency_key=idempotency_key).data)

    def delete(self, webhook_id: str) -> Deleted:
        return Deleted.from_dict(self._t.request("DELETE", f"/v1/webhooks/{_path_id(webhook_id)}").data)

    def deliveries(
        self, webhook_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> WebhookDeliveryList:
        """A page of the events sent (or being sent) to the endpoint, newest first."""
        path = f"/v1/webhooks/{_path_id(webhook_id)}/deliveries"
        return WebhookDeliveryList.from_dict(self._t.request("GET", path, query=dict(limit=limit, cursor=cursor)).data)

    def deliveries_all(self, webhook_id: str, *, limit: int = 100) -> Iterator[WebhookDelivery]:
        return paginate(lambda cursor: self.deliveries(webhook_id, limit=limit, cursor=cursor), "deliveries")
