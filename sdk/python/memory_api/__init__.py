"""Python client for the memoryd memory API.

    from memory_api import MemoryClient
    client = MemoryClient(api_key="mem_live_...")
    client.memories.create(text="User prefers dark mode", user_id="u_42")
    results = client.query(context="What UI does the user like?", user_id="u_42", max_memories=5)
"""

from types import ModuleType as _ModuleType

from ._client import MemoryClient
from ._version import __version__
from .errors import (
    APIConnectionError,
    AuthenticationError,
    ConfirmationRequiredError,
    IdempotencyConflictError,
    InsufficientScopeError,
    InternalServerError,
    InvalidRequestError,
    LLMNotConfiguredError,
    MemoryAPIError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitError,
    UnsupportedMediaTypeError,
    UpstreamError,
)
from .types import (
    Account,
    Alert,
    ApiKey,
    ApiKeyRevoked,
    AuditEvent,
    AuditList,
    Deleted,
    Invoice,
    InvoiceLine,
    InvoiceList,
    Job,
    JobError,
    JobProgress,
    Memory,
    MemoriesDeleted,
    MemoryDeleted,
    MemoryEvent,
    MemoryHistory,
    MemoryList,
    QueryAnswer,
    QueryResult,
    Usage,
    UsageHistory,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookDeliveryList,
)

# Everything above, but not the submodules that importing it brought in.
__all__ = [n for n, v in list(globals().items()) if not n.startswith("_") and not isinstance(v, _ModuleType)]
__all__.append("__version__")
