"""Exceptions raised by the client, one class per API error code.

Catch :class:`MemoryAPIError` for everything the API can answer; catch a subclass
to handle one case (``except NotFoundError``). The mapping is by the ``code`` in the
error envelope, falling back to the HTTP status when a proxy answered without one.
"""

from typing import Any, Dict, Optional


class MemoryAPIError(Exception):
    """An error answered by the API (or no answer at all, for ``APIConnectionError``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: Optional[int] = None,
        details: Optional[Dict[str, Any]] = None,
        request_id: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or {}
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.code else self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"[request_id {self.request_id}]")
        return " ".join(parts)


class APIConnectionError(MemoryAPIError):
    """The server could not be reached, or the connection broke, after every retry."""


class InvalidRequestError(MemoryAPIError):
    """400 INVALID_REQUEST; ``details["field"]`` names the offending JSON path."""

    @property
    def field(self) -> Optional[str]:
        return self.details.get("field")


class ConfirmationRequiredError(MemoryAPIError):
    """400 CONFIRMATION_REQUIRED: a destructive call was made without confirming it."""


class AuthenticationError(MemoryAPIError):
    """401 INVALID_API_KEY: the key is missing, malformed, unknown, revoked or expired."""


class QuotaExceededError(MemoryAPIError):
    """402 QUOTA_EXCEEDED: a monthly quota of the plan is used up."""


class InsufficientScopeError(MemoryAPIError, PermissionError):
    """403 INSUFFICIENT_SCOPE; ``details["required_scope"]`` says which scope is missing."""

    @property
    def required_scope(self) -> Optional[str]:
        return self.details.get("required_scope")


class NotFoundError(MemoryAPIError):
    """404: MEMORY_NOT_FOUND, JOB_NOT_FOUND, KEY_NOT_FOUND or NOT_FOUND (an unknown route)."""


class MethodNotAllowedError(MemoryAPIError):
    """405 METHOD_NOT_ALLOWED."""


class IdempotencyConflictError(MemoryAPIError):
    """409 IDEMPOTENCY_CONFLICT: the Idempotency-Key was used before with another body."""


class PayloadTooLargeError(MemoryAPIError):
    """413 PAYLOAD_TOO_LARGE: the body is over 10 MiB."""


class UnsupportedMediaTypeError(MemoryAPIError):
    """415 UNSUPPORTED_MEDIA_TYPE."""


class RateLimitError(MemoryAPIError):
    """429 RATE_LIMIT_EXCEEDED, raised once retries are used up (or the wait is too long)."""

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait, from ``details.retry_after`` or the ``Retry-After`` header."""
        value = self.details.get("retry_after")
        if value is None:
            value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None


class InternalServerError(MemoryAPIError):
    """500 INTERNAL_ERROR (or any other 5xx without a more specific code)."""


class LLMNotConfiguredError(MemoryAPIError):
    """501 LLM_NOT_CONFIGURED: the call needs a language model and the server has none."""


class UpstreamError(MemoryAPIError):
    """502 UPSTREAM_ERROR: the model provider failed after the server's own retries."""


_BY_CODE = {
    "INVALID_REQUEST": InvalidRequestError,
    "CONFIRMATION_REQUIRED": ConfirmationRequiredError,
    "INVALID_API_KEY": AuthenticationError,
    "QUOTA_EXCEEDED": QuotaExceededError,
    "INSUFFICIENT_SCOPE": InsufficientScopeError,
    "METHOD_NOT_ALLOWED": MethodNotAllowedError,
    "IDEMPOTENCY_CONFLICT": IdempotencyConflictError,
    "PAYLOAD_TOO_LARGE": PayloadTooLargeError,
    "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaTypeError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "INTERNAL_ERROR": InternalServerError,
    "LLM_NOT_CONFIGURED": LLMNotConfiguredError,
    "UPSTREAM_ERROR": UpstreamError,
}

_BY_STATUS = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: InsufficientScopeError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: IdempotencyConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
    501: LLMNotConfiguredError,
    502: UpstreamError,
}


def error_class(code: str, status: int) -> type:
    """The exception class for an error code, falling back to the HTTP status."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    # Every *_NOT_FOUND code, including ones added later, is a NotFoundError.
    if code == "NOT_FOUND" or code.endswith("_NOT_FOUND"):
        return NotFoundError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return InternalServerError
    return MemoryAPIError
