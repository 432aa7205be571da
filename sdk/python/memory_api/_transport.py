"""HTTP transport: the envelope, errors, retries and idempotency keys.

Standard library only (urllib), so that installing the SDK never pulls in anything.
"""

import email.utils
import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Optional

from ._version import __version__
from .errors import APIConnectionError, MemoryAPIError, error_class

# 501 LLM_NOT_CONFIGURED is a 5xx but permanent: retrying cannot help.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Backoff without Retry-After: 0.5 s, 1 s, 2 s, ... capped, each scaled by jitter.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0


@dataclass
class Response:
    status: int
    data: Any
    meta: Dict[str, Any]
    headers: Dict[str, str]  # lower-cased names


def encode_value(value: Any) -> Any:
    """JSON-ready form of a value: datetimes become RFC 3339 in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    return value


def compact(**fields: Any) -> Dict[str, Any]:
    """The fields that were given: None means "not sent", so the server's default applies."""
    return {k: encode_value(v) for k, v in fields.items() if v is not None}


class Transport:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        timeout: float,
        max_retries: int,
        max_retry_after: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
        idempotency_key: Optional[str] = None,
        raw: bool = False,
    ) -> Response:
        url = self.base_url + path
        if query:
            params = {k: _query_value(v) for k, v in query.items() if v is not None}
            if params:
                url += "?" + urllib.parse.urlencode(params)
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"memory-api-python/{__version__}",
        }
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if method == "POST":
            # One key per call, reused by every retry of it: a retry after a lost
            # answer then replays the first result instead of writing twice.
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())

        attempt = 0
        while True:
            try:
                return self._once(method, url, headers, data, raw)
            except MemoryAPIError as err:
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
            attempt += 1
            self._sleep(delay)

    def _once(self, method: str, url: str, headers: Dict[str, str], data: Optional[bytes], raw: bool) -> Response:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, resp_headers, payload = resp.status, _headers(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, resp_headers = err.code, _headers(err.headers)
            try:
                payload = err.read()
            finally:
                err.close()
            raise _api_error(status, resp_headers, payload) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise APIConnectionError(f"Could not reach {self.base_url}: {reason}", code="CONNECTION_ERROR") from err

        if raw or not resp_headers.get("content-type", "").startswith("application/json"):
            return Response(status, payload.decode("utf-8"), {}, resp_headers)
        envelope = json.loads(payload.decode("utf-8")) if payload else {}
        return Response(status, envelope.get("data"), envelope.get("meta") or {}, resp_headers)

    def _retry_delay(self, err: MemoryAPIError, attempt: int) -> Optional[float]:
        """Seconds to wait before the next try, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if not isinstance(err, APIConnectionError) and err.status not in RETRY_STATUSES:
            return None
        retry_after = _parse_retry_after(err.headers.get("retry-after"))
        if retry_after is not None:
            # A daily limit can say "retry in 9 hours": better to fail now than hang.
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** attempt))
        return backoff * (0.5 + random.random() / 2)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return encode_value(value)


def _headers(msg: Any) -> Dict[str, str]:
    return {k.lower(): v for k, v in msg.items()} if msg is not None else {}


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After is whole seconds from memoryd, but an HTTP date from a proxy is legal too."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _api_error(status: int, headers: Dict[str, str], payload: bytes) -> MemoryAPIError:
    code, message, details, request_id = "", f"HTTP {status}", {}, headers.get("x-request-id")
    try:
        envelope = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        envelope = None
    if isinstance(envelope, dict):
        error = envelope.get("error") or {}
        code = error.get("code") or ""
        message = error.get("message") or message
        details = error.get("details") or {}
        request_id = (envelope.get("meta") or {}).get("request_id") or request_id
    cls = error_class(code, status)
    return cls(message, code=code, status=status, details=details, request_id=request_id, headers=headers)
