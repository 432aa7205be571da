"""The SDK against a scripted stub server: backoff and retries of failures a real server
cannot be made to produce on demand (5xx, dropped connections, a proxy's HTML page), and
the exact wire format of calls (method, path, body, query string) that a real server
would accept in more than one form. test_server.py runs every call against the binary.
"""

import json
import time
import unittest
import urllib.parse

from memory_api import (
    APIConnectionError,
    InternalServerError,
    InvalidRequestError,
    Job,
    LLMNotConfiguredError,
    MemoryClient,
    QuotaExceededError,
    RateLimitError,
    UpstreamError,
)

from .support import StubServer, fail, ok

MEMORY = {
    "id": "mem_1", "text": "User prefers dark mode", "metadata": {}, "user_id": "u_42",
    "agent_id": None, "session_id": None, "created_at": "2026-11-02T09:15:27Z",
    "updated_at": "2026-11-02T09:15:27Z", "version": 1, "expires_at": None,
}
JOB = {
    "id": "job_1", "type": "extract", "status": "queued",
    "progress": {"total": 3, "done": 0, "failed": 0}, "result": None, "error": None,
    "created_at": "2026-11-05T17:40:03Z", "started_at": None, "finished_at": None,
}


def client_for(stub: StubServer, **kwargs) -> MemoryClient:
    return MemoryClient(api_key="mem_live_" + "a" * 32, base_url=stub.base_url, **kwargs)


def no_sleep(client: MemoryClient) -> list:
    """Replaces the client's sleep with a recorder, so backoff tests run instantly."""
    slept: list = []
    client._transport._sleep = slept.append
    return slept


class RetryTest(unittest.TestCase):
    def test_429_honours_retry_after_and_reuses_idempotency_key(self) -> None:
        limited = fail(429, "RATE_LIMIT_EXCEEDED", {"retry_after": 1, "limit": 10, "window": "minute"},
                       {"Retry-After": "1"})
        with StubServer(limited, ok(MEMORY, 201)) as stub:
            start = time.monotonic()
            memory = client_for(stub).memories.create(text="User prefers dark mode", user_id="u_42")
            elapsed = time.monotonic() - start
        self.assertEqual(memory.id, "mem_1")
        self.assertEqual(len(stub.requests), 2)
        self.assertGreaterEqual(elapsed, 0.95)
        keys = [r["headers"]["idempotency-key"] for r in stub.requests]
        self.assertEqual(keys[0], keys[1])
        self.assertEqual(len(keys[0]), 36)  # a uuid4
        self.assertEqual(stub.requests[0]["body"], stub.requests[1]["body"])

    def test_5xx_backs_off_exponentially_then_raises(self) -> None:
        with StubServer(fail(503, "INTERNAL_ERROR")) as stub:
            client = client_for(stub, max_retries=3)
            slept = no_sleep(client)
            with self.assertRaises(InternalServerError) as ctx:
                client.memories.get("mem_1")
        self.assertEqual(len(stub.requests), 4)
        self.assertEqual(ctx.exception.request_id, "req_stub_err")
        # 0.5, 1, 2 seconds, each scaled by jitter in [0.5, 1].
        for delay, base in zip(slept, (0.5, 1.0, 2.0)):
            self.assertTrue(base / 2 <= delay <= base, (delay, base))

    def test_connection_errors_are_retried(self) -> None:
        stub = StubServer(ok(MEMORY))
        url = stub.base_url
        stub.__exit__()  # nothing listens on that port now
        client = MemoryClient(api_key="mem_live_" + "a" * 32, base_url=url, max_retries=2)
        slept = no_sleep(client)
        with self.assertRaises(APIConnectionError):
            client.account.get()
        self.assertEqual(len(slept), 2)

    def test_new_key_per_call(self) -> None:
        with StubServer(ok(MEMORY, 201)) as stub:
            client = client_for(stub)
            client.memories.create(text="a")
            client.memories.create(text="a")
            client.memories.list()
        keys = [r["headers"].get("idempotency-key") for r in stub.requests]
        self.assertNotEqual(keys[0], keys[1])
        self.assertIsNone(keys[2])  # only POSTs carry one

    def test_permanent_errors_are_not_retried(self) -> None:
        cases = [
            (fail(400, "INVALID_REQUEST", {"field": "text"}), InvalidRequestError),
            (fail(402, "QUOTA_EXCEEDED", {"metric": "api_calls"}), QuotaExceededError),
            (fail(501, "LLM_NOT_CONFIGURED"), LLMNotConfiguredError),
            # Retry-After beyond max_retry_after: fail now rather than hang for an hour.
            (fail(429, "RATE_LIMIT_EXCEEDED", {"retry_after": 3600}, {"Retry-After": "3600"}), RateLimitError),
        ]
        for answer, exc in cases:
            with self.subTest(exc=exc.__name__), StubServer(answer) as stub:
                with self.assertRaises(exc) as ctx:
                    client_for(stub).memories.list()
                self.assertEqual(len(stub.requests), 1)
        self.assertEqual(ctx.exception.retry_after, 3600)

    def test_error_without_envelope_maps_by_status(self) -> None:
        with StubServer((502, {"Content-Type": "text/html"}, "<h1>Bad gateway</h1>")) as stub:
            client = client_for(stub, max_retries=0)
            with self.assertRaises(UpstreamError) as ctx:
                client.account.get()
        self.assertEqual((ctx.exception.status, ctx.exception.code), (502, ""))


class WireFormatTest(unittest.TestCase):
    """Method, path and body of each call, and parsing of answers the real server cannot
    be made to give (a model's answer, a job seen while still running)."""

    def call(self, answer, fn):
        with StubServer(answer) as stub:
            result = fn(client_for(stub))
        self.assertEqual(len(stub.requests), 1)
        req = stub.requests[0]
        self.assertEqual(req["headers"]["authorization"], "Bearer mem_live_" + "a" * 32)
        if req["body"] is not None:
            self.assertEqual(req["headers"]["content-type"], "application/json")
        return req, result

    def test_query(self) -> None:
        scored = dict(MEMORY, relevance=0.87)
        req, result = self.call(ok({"memories": [scored]}), lambda c: c.query(
            context="What UI does the user like?", user_id="u_42", max_memories=5,
            filters={"metadata": {"category": "preference"}},
        ))
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/query"))
        self.assertEqual(req["body"], {"context": "What UI does the user like?", "user_id": "u_42",
                                       "max_memories": 5, "filters": {"metadata": {"category": "preference"}}})
        self.assertIn("idempotency-key", req["headers"])
        self.assertEqual([m.relevance for m in result], [0.87])
        self.assertEqual(result.memories[0].text, "User prefers dark mode")

    def test_retrieve(self) -> None:
        req, result = self.call(ok({"memories": []}), lambda c: c.retrieve(context="work", relevance_threshold=0.5))
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/retrieve"))
        self.assertEqual(req["body"], {"context": "work", "relevance_threshold": 0.5})
        self.assertEqual(len(result), 0)

    def test_query_with_answer(self) -> None:
        answer = {"response": "Dark mode.", "memories": [dict(MEMORY, relevance=0.9)],
                  "model": "gpt-4o-mini", "grounded": True, "new_field": 1}
        req, result = self.call(ok(answer), lambda c: c.query_with_answer(
            context="What UI?", prompt_template="Answer: {question}"))
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/query/answer"))
        self.assertEqual(req["body"], {"context": "What UI?", "prompt_template": "Answer: {question}"})
        self.assertEqual((result.response, result.grounded, result.model), ("Dark mode.", True, "gpt-4o-mini"))
        self.assertEqual(result.raw["new_field"], 1)  # unknown fields are kept, not fatal

    def test_batch_extract(self) -> None:
        messages = [{"role": "user", "content": "I am a nurse."}]
        req, job = self.call(ok({"job": JOB}, 202), lambda c: c.batch.extract(messages, user_id="u_42"))
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/batch/extract"))
        self.assertEqual(req["body"], {"messages": messages, "user_id": "u_42"})
        self.assertIsInstance(job, Job)
        self.assertEqual((job.id, job.status, job.progress.total), ("job_1", "queued", 3))
        self.assertFalse(job.is_terminal)

    def test_batch_embeddings(self) -> None:
        req, _ = self.call(ok({"job": dict(JOB, type="embeddings")}, 202),
                           lambda c: c.batch.embeddings(["mem_1", "mem_2"]))
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/batch/embeddings"))
        self.assertEqual(req["body"], {"memory_ids": ["mem_1", "mem_2"]})
        req, _ = self.call(ok({"job": JOB}, 202), lambda c: c.batch.embeddings())
        self.assertEqual(req["body"], {})

    def test_jobs_get_and_wait(self) -> None:
        req, job = self.call(ok(JOB), lambda c: c.jobs.get("job_1"))
        self.assertEqual((req["method"], req["path"]), ("GET", "/v1/batch/job_1"))

        done = dict(JOB, status="succeeded", result={"memories_created": 2},
                    progress={"total": 3, "done": 3, "failed": 0})
        with StubServer(ok(JOB), ok(dict(JOB, status="running")), ok(done)) as stub:
            finished = client_for(stub).jobs.wait(job, poll_interval=0.01)
        self.assertEqual((finished.status, finished.result), ("succeeded", {"memories_created": 2}))
        self.assertEqual(len(stub.requests), 3)

        with StubServer(ok(dict(JOB, status="running"))) as stub:
            with self.assertRaises(TimeoutError):
                client_for(stub).jobs.wait("job_1", poll_interval=0.01, timeout=0.05)

    def test_usage(self) -> None:
        usage = {"period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, "plan": "pro",
                 "usage": {"api_calls": 12}, "limits": {}, "cost": {"total_usd": 49.0}}
        req, result = self.call(ok(usage), lambda c: c.usage.get())
        self.assertEqual((req["method"], req["path"]), ("GET", "/v1/usage"))
        self.assertEqual((result.plan, result.period.start, result.usage["api_calls"]),
                         ("pro", "2026-11-01T00:00:00Z", 12))

    def test_usage_history(self) -> None:
        bucket = {"start": "2026-11-01T00:00:00Z", "api_calls": 3}
        req, result = self.call(ok({"buckets": [bucket]}), lambda c: c.usage.history(
            from_="2026-11-01T00:00:00Z", granularity="hour", group_by="endpoint"))
        self.assertEqual((req["method"], req["path"]), ("GET", "/v1/usage/history"))
        self.assertEqual(urllib.parse.parse_qs(req["query"]), {
            "from": ["2026-11-01T00:00:00Z"], "granularity": ["hour"], "group_by": ["endpoint"]})
        self.assertEqual(result.buckets, [bucket])

        csv = "start,api_calls\n2026-11-01T00:00:00Z,3\n"
        req, text = self.call((200, {"Content-Type": "text/csv"}, csv), lambda c: c.usage.history(format="csv"))
        self.assertEqual(urllib.parse.parse_qs(req["query"]), {"format": ["csv"]})
        self.assertEqual(text, csv)

    def test_memory_paths_are_quoted(self) -> None:
        req, _ = self.call(ok(MEMORY), lambda c: c.memories.get("mem_1/../x"))
        self.assertEqual(req["path"], "/v1/memories/mem_1%2F..%2Fx")

    def test_datetimes_are_sent_as_rfc3339_utc(self) -> None:
        from datetime import datetime, timedelta, timezone

        when = datetime(2027, 1, 2, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
        req, _ = self.call(ok(MEMORY, 201), lambda c: c.memories.create(text="t", expires_at=when))
        self.assertEqual(json.loads(json.dumps(req["body"]))["expires_at"], "2027-01-02T03:05:06Z")


if __name__ == "__main__":
    unittest.main()
