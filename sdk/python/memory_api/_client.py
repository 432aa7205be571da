"""MemoryClient: the entry point."""

import os
from typing import Any, Dict, Optional

from ._transport import Transport, compact
from .resources import AccountResource, Alerts, Batch, Billing, Jobs, Keys, Memories, UsageResource, Webhooks
from .types import QueryAnswer, QueryResult

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


class MemoryClient:
    """A client for one API key.

    ``max_retries`` retries apply to 429, 408, 500, 502, 503, 504 and connection errors,
    waiting for ``Retry-After`` when the server sends one (up to ``max_retry_after``
    seconds; a longer wait raises at once) and exponential backoff with jitter otherwise.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: float = 30,
        max_retries: int = 3,
        max_retry_after: float = 60,
    ) -> None:
        api_key = api_key or os.environ.get("MEMORYD_API_KEY")
        if not api_key:
            raise ValueError("api_key is required (or set MEMORYD_API_KEY)")
        base_url = base_url or os.environ.get("MEMORYD_BASE_URL") or DEFAULT_BASE_URL
        self._transport = Transport(api_key, base_url, timeout, max_retries, max_retry_after)
        self.memories = Memories(self._transport)
        self.batch = Batch(self._transport)
        self.jobs = Jobs(self._transport)
        self.usage = UsageResource(self._transport)
        self.account = AccountResource(self._transport)
        self.keys = Keys(self._transport)
        self.billing = Billing(self._transport)
        self.alerts = Alerts(self._transport)
        self.webhooks = Webhooks(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def query(
        self,
        context: str,
        *,
        max_memories: Optional[int] = None,
        relevance_threshold: Optional[float] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
    ) -> QueryResult:
        """The memories relevant to ``context``, most relevant first (may re-rank with a model)."""
        body = compact(
            context=context, max_memories=max_memories, relevance_threshold=relevance_threshold,
            user_id=user_id, agent_id=agent_id, session_id=session_id, filters=filters,
        )
        return QueryResult.from_dict(self._transport.request("POST", "/v1/query", body=body).data)

    def retrieve(
        self,
        context: str,
        *,
        max_memories: Optional[int] = None,
        relevance_threshold: Optional[float] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
    ) -> QueryResult:
        """Like :meth:`query`, but never calls a language model."""
        body = compact(
            context=context, max_memories=max_memories, relevance_threshold=relevance_threshold,
            user_id=user_id, agent_id=agent_id, session_id=session_id, filters=filters,
        )
        return QueryResult.from_dict(self._transport.request("POST", "/v1/retrieve", body=body).data)

    def query_with_answer(
        self,
        context: str,
        *,
        max_memories: Optional[int] = None,
        relevance_threshold: Optional[float] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
        prompt_template: Optional[str] = None,
    ) -> QueryAnswer:
        """An answer to ``context`` grounded in the memories (``grounded`` False when none fit)."""
        body = compact(
            context=context, max_memories=max_memories, relevance_threshold=relevance_threshold,
            user_id=user_id, agent_id=agent_id, session_id=session_id, filters=filters,
            prompt_template=prompt_template,
        )
        return QueryAnswer.from_dict(self._transport.request("POST", "/v1/query/answer", body=body).data)
