"""The SDK against the real memoryd binary: every call of the customer API, on a server
without a language model and, for answers and a running job's cancel, with a stand-in
chat model speaking the OpenAI wire format."""

import json
import shutil
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from memory_api import (
    AuthenticationError,
    ConfirmationRequiredError,
    IdempotencyConflictError,
    InsufficientScopeError,
    InvalidRequestError,
    Invoice,
    InvoiceLine,
    Job,
    LLMNotConfiguredError,
    MemoryAPIError,
    MemoryClient,
    NotFoundError,
    RateLimitError,
)

from .support import ChatStandIn, MemoryServer, record_last_month

server: MemoryServer


def setUpModule() -> None:
    global server
    server = MemoryServer()


def tearDownModule() -> None:
    server.close()


def new_user() -> str:
    # Each test works on its own user, so tests do not see each other's memories.
    return "u_" + uuid.uuid4().hex[:12]


class MemoriesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_crud_and_history(self) -> None:
        user = new_user()
        m = self.client.memories.create(text="User prefers dark mode", user_id=user,
                                        metadata={"category": "preference"})
        self.assertTrue(m.id.startswith("mem_"))
        self.assertEqual((m.text, m.user_id, m.version), ("User prefers dark mode", user, 1))
        self.assertEqual(m.metadata, {"category": "preference"})
        self.assertIsNone(m.agent_id)

        got = self.client.memories.get(m.id)
        self.assertEqual(got, m)

        updated = self.client.memories.update(m.id, text="User prefers light mode")
        self.assertEqual((updated.text, updated.version), ("User prefers light mode", 2))
        self.assertEqual(updated.metadata, {"category": "preference"})

        history = self.client.memories.history(m.id)
        self.assertEqual([e.event for e in history], ["ADD", "UPDATE"])
        self.assertEqual(history.events[1].previous_text, "User prefers dark mode")

        deleted = self.client.memories.delete(m.id)
        self.assertEqual((deleted.id, deleted.deleted), (m.id, True))
        with self.assertRaises(NotFoundError) as ctx:
            self.client.memories.get(m.id)
        err = ctx.exception
        self.assertEqual((err.code, err.status), ("MEMORY_NOT_FOUND", 404))
        self.assertTrue(err.request_id and err.request_id.startswith("req_"), err.request_id)
        self.assertIsInstance(err, MemoryAPIError)

    def test_invalid_request_names_the_field(self) -> None:
        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.memories.create(text="")
        self.assertEqual(ctx.exception.details["field"], "text")
        self.assertEqual(ctx.exception.field, "text")

        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.memories.batch_create([{"text": "fine"}, {"text": "bad", "metadata": 3}])
        self.assertEqual(ctx.exception.field, "memories[1].metadata")

    def test_batch_create_and_list_all_pages(self) -> None:
        user = new_user()
        created = self.client.memories.batch_create(
            [{"text": f"fact {i}", "user_id": user, "metadata": {"i": i}} for i in range(5)]
        )
        self.assertEqual([m.text for m in created], [f"fact {i}" for i in range(5)])

        page = self.client.memories.list(user_id=user, limit=2)
        self.assertEqual(len(page.memories), 2)
        self.assertIsNotNone(page.next_cursor)

        # limit=2 over 5 memories: three pages, followed by the iterator.
        listed = list(self.client.memories.list_all(user_id=user, limit=2))
        self.assertEqual(sorted(m.id for m in listed), sorted(m.id for m in created))
        self.assertEqual(len({m.id for m in listed}), 5)

    def test_delete_all_needs_confirmation(self) -> None:
        user = new_user()
        self.client.memories.batch_create([{"text": "a", "user_id": user}, {"text": "b", "user_id": user}])
        keep = self.client.memories.create(text="someone else", user_id=new_user())

        with self.assertRaises(ConfirmationRequiredError) as ctx:
            self.client.memories.delete_all(user_id=user)
        self.assertEqual(ctx.exception.status, 400)

        result = self.client.memories.delete_all(user_id=user, confirm=True)
        self.assertEqual(result.deleted, 2)
        self.assertEqual(list(self.client.memories.list_all(user_id=user)), [])
        self.assertEqual(self.client.memories.get(keep.id).id, keep.id)

    def test_idempotency_key_replays_and_conflicts(self) -> None:
        key = str(uuid.uuid4())
        user = new_user()
        first = self.client.memories.create(text="once", user_id=user, idempotency_key=key)
        again = self.client.memories.create(text="once", user_id=user, idempotency_key=key)
        self.assertEqual(first.id, again.id)
        self.assertEqual(len(list(self.client.memories.list_all(user_id=user))), 1)

        with self.assertRaises(IdempotencyConflictError) as ctx:
            self.client.memories.create(text="another body", user_id=user, idempotency_key=key)
        self.assertEqual((ctx.exception.code, ctx.exception.status), ("IDEMPOTENCY_CONFLICT", 409))

    def test_every_post_gets_its_own_key(self) -> None:
        # Without an explicit key, two identical creates are two memories, not a replay.
        user = new_user()
        a = self.client.memories.create(text="same", user_id=user)
        b = self.client.memories.create(text="same", user_id=user)
        self.assertNotEqual(a.id, b.id)


class AccountAndKeysTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_account(self) -> None:
        account = self.client.account.get()
        self.assertEqual(account.org.id, server.org_id)
        self.assertEqual(account.org.name, "sdk-python")
        self.assertEqual(account.org.plan, "enterprise")
        self.assertIn("admin", account.api_key.scopes)
        self.assertEqual(account.api_key.mode, "live")
        self.assertIn("requests_per_minute", account.limits)

    def test_bootstrap_key_is_printed_once(self) -> None:
        self.assertTrue(server.bootstrap_key and server.bootstrap_key.startswith("mem_live_"))
        default = MemoryClient(api_key=server.bootstrap_key, base_url=server.base_url).account.get()
        self.assertEqual(default.org.name, "default")

    def test_keys_create_list_rotate_revoke(self) -> None:
        created = self.client.keys.create("reader", ["read"], mode="test")
        self.assertTrue(created.key.startswith("mem_test_"))
        self.assertEqual((created.name, created.scopes, created.mode), ("reader", ["read"], "test"))

        listed = {k.id: k for k in self.client.keys.list()}
        self.assertIn(created.id, listed)
        self.assertIsNone(listed[created.id].key)  # the secret is never listed

        reader = MemoryClient(api_key=created.key, base_url=server.base_url)
        self.assertEqual(reader.account.get().api_key.id, created.id)
        with self.assertRaises(InsufficientScopeError) as ctx:
            reader.memories.create(text="not allowed")
        self.assertEqual(ctx.exception.required_scope, "write")
        self.assertIsInstance(ctx.exception, PermissionError)

        rotated = self.client.keys.rotate(created.id, grace_period_seconds=0)
        self.assertNotEqual(rotated.id, created.id)
        self.assertTrue(rotated.key.startswith("mem_test_"))
        with self.assertRaises(AuthenticationError) as ctx:
            reader.account.get()
        self.assertEqual(ctx.exception.code, "INVALID_API_KEY")

        revoked = self.client.keys.revoke(rotated.id)
        self.assertEqual((revoked.id, revoked.revoked), (rotated.id, True))
        with self.assertRaises(AuthenticationError):
            MemoryClient(api_key=rotated.key, base_url=server.base_url).account.get()

        with self.assertRaises(NotFoundError) as ctx:
            self.client.keys.revoke("key_doesnotexist")
        self.assertEqual(ctx.exception.code, "KEY_NOT_FOUND")

    def test_unknown_key(self) -> None:
        bad = MemoryClient(api_key="mem_live_" + "x" * 32, base_url=server.base_url)
        with self.assertRaises(AuthenticationError) as ctx:
            bad.memories.list()
        self.assertEqual((ctx.exception.code, ctx.exception.status), ("INVALID_API_KEY", 401))


class UsageTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_usage_and_history(self) -> None:
        self.client.memories.create(text="counted", user_id=new_user())
        usage = self.client.usage.get()
        self.assertEqual(usage.plan, "enterprise")
        self.assertTrue(usage.period.start < usage.period.end)
        for metric in ("api_calls", "memories_written", "tokens_processed"):
            self.assertIsInstance(usage.usage[metric], int)
        self.assertIn("total_usd", usage.cost)

        history = self.client.usage.history(granularity="day")
        self.assertGreaterEqual(len(history.buckets), 1)
        self.assertIn("api_calls", history.buckets[-1])

        csv = self.client.usage.history(format="csv", group_by="endpoint")
        self.assertTrue(csv.startswith("start,group,"), csv[:80])

    def test_history_by_hour_and_endpoint(self) -> None:
        self.client.retrieve("anything at all", user_id=new_user())
        history = self.client.usage.history(granularity="hour", group_by="endpoint")
        groups = {b["group"] for b in history.buckets}
        self.assertIn("POST /v1/retrieve", groups)
        for bucket in history.buckets:
            self.assertTrue(bucket["start"].endswith(":00:00Z"), bucket["start"])
            self.assertIsInstance(bucket["api_calls"], int)


FACTS = [
    ("User works as a nurse at the city hospital", {"category": "work"}),
    ("User prefers dark mode interfaces", {"category": "preference"}),
    ("User has a dog named Biscuit", {"category": "pets"}),
]


class RetrievalTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)
        self.user = new_user()
        self.memories = self.client.memories.batch_create(
            [{"text": text, "metadata": meta, "user_id": self.user} for text, meta in FACTS])
        # Another user's memory with the same words must never come back.
        self.client.memories.create(text="User works as a nurse", user_id=new_user())

    def test_retrieve_ranks_by_relevance(self) -> None:
        result = self.client.retrieve("What does the user do for work?", user_id=self.user)
        self.assertEqual(len(result), 3)
        self.assertEqual(result.memories[0].text, FACTS[0][0])
        scores = [m.relevance for m in result]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertTrue(all(0 <= s <= 1 for s in scores), scores)
        self.assertEqual({m.user_id for m in result}, {self.user})
        self.assertEqual(result.memories[0].metadata, {"category": "work"})

    def test_retrieve_threshold_limit_and_filters(self) -> None:
        top = self.client.retrieve("dark mode", user_id=self.user, max_memories=1)
        self.assertEqual([m.text for m in top], [FACTS[1][0]])

        # Relevance is shown to four decimals but compared unrounded: stay just below it.
        threshold = top.memories[0].relevance - 0.001
        above = self.client.retrieve("dark mode", user_id=self.user, relevance_threshold=threshold)
        self.assertEqual([m.text for m in above], [FACTS[1][0]])

        pets = self.client.retrieve("What does the user like?", user_id=self.user,
                                    filters={"metadata": {"category": "pets"}})
        self.assertEqual([m.text for m in pets], [FACTS[2][0]])

        none = self.client.retrieve("dark mode", user_id=self.user,
                                    filters={"created_after": "2999-01-01T00:00:00Z"})
        self.assertEqual(len(none), 0)

    def test_query_without_a_model_is_retrieval(self) -> None:
        query = self.client.query("What does the user do for work?", user_id=self.user, max_memories=2)
        retrieve = self.client.retrieve("What does the user do for work?", user_id=self.user, max_memories=2)
        self.assertEqual([(m.id, m.relevance) for m in query], [(m.id, m.relevance) for m in retrieve])

    def test_invalid_retrieval(self) -> None:
        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.retrieve("", user_id=self.user)
        self.assertEqual(ctx.exception.field, "context")
        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.query("work", relevance_threshold=2)
        self.assertEqual(ctx.exception.field, "relevance_threshold")

    def test_answer_needs_a_model(self) -> None:
        with self.assertRaises(LLMNotConfiguredError) as ctx:
            self.client.query_with_answer("What does the user do for work?", user_id=self.user,
                                          prompt_template="Answer briefly: {question}")
        err = ctx.exception
        self.assertEqual((err.status, err.code), (501, "LLM_NOT_CONFIGURED"))
        self.assertTrue(err.request_id and err.request_id.startswith("req_"))


class JobsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_reembed_all_and_wait(self) -> None:
        self.client.memories.batch_create([{"text": f"fact {i}", "user_id": new_user()} for i in range(3)])
        job = self.client.batch.embeddings()
        self.assertIsInstance(job, Job)
        self.assertTrue(job.id.startswith("job_"))
        self.assertEqual(job.type, "embeddings")
        self.assertIn(job.status, ("queued", "running", "succeeded"))

        done = self.client.jobs.wait(job, poll_interval=0.05, timeout=30)
        self.assertEqual(done.status, "succeeded")
        self.assertTrue(done.is_terminal)
        self.assertIsNone(done.error)
        self.assertGreaterEqual(done.progress.total, 3)
        self.assertEqual((done.progress.done, done.progress.failed), (done.progress.total, 0))
        self.assertEqual(done.result["memories_embedded"], done.progress.total)
        self.assertTrue(done.finished_at)
        self.assertEqual(self.client.jobs.get(job.id).status, "succeeded")

    def test_reembed_some(self) -> None:
        m = self.client.memories.create(text="just this one", user_id=new_user())
        done = self.client.jobs.wait(self.client.batch.embeddings([m.id]).id, poll_interval=0.05, timeout=30)
        self.assertEqual((done.status, done.progress.total, done.result["memories_embedded"]), ("succeeded", 1, 1))

    def test_unknown_ids(self) -> None:
        with self.assertRaises(NotFoundError) as ctx:
            self.client.jobs.get("job_doesnotexist")
        self.assertEqual(ctx.exception.code, "JOB_NOT_FOUND")
        with self.assertRaises(NotFoundError) as ctx:
            self.client.batch.embeddings(["mem_doesnotexist"])
        self.assertEqual(ctx.exception.code, "MEMORY_NOT_FOUND")


class ExtractTest(unittest.TestCase):
    """Without a model, extraction runs the rule-based extractor, and says so."""

    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_extract_wait_and_cancel(self) -> None:
        user = new_user()
        self.client.memories.create(text="I am allergic to peanuts.", user_id=user)
        job = self.client.batch.extract(
            [
                {"role": "user", "content": "Hello! I am allergic to peanuts. My daughter Mia starts school in May.",
                 "created_at": "2026-04-02T09:00:00Z"},
                {"role": "assistant", "content": "Good to know. I will remember that."},
                {"role": "user", "content": "Can you suggest a snack? I prefer savoury food."},
            ],
            user_id=user, metadata={"source": "chat"},
        )
        self.assertIsInstance(job, Job)
        self.assertTrue(job.id.startswith("job_"))
        self.assertEqual((job.type, job.status), ("extract", "queued"))

        done = self.client.jobs.wait(job, poll_interval=0.05, timeout=30)
        self.assertEqual((done.status, done.result["extractor"]), ("succeeded", "rules"))
        self.assertEqual([e["event"] for e in done.result["events"]], ["NOOP", "ADD", "ADD"])
        self.assertEqual((done.progress.total, done.progress.done, done.result["memories_created"]), (3, 3, 2))
        texts = sorted(m.text for m in self.client.memories.list_all(user_id=user))
        self.assertEqual(texts, ["I am allergic to peanuts.", "I prefer savoury food.",
                                 "My daughter Mia starts school in May."])
        added = self.client.memories.get(done.result["events"][1]["memory_id"])
        self.assertEqual(added.metadata, {"source": "chat", "refers_to": "2026-04-02T09:00:00Z"})
        self.assertEqual([(e.event, e.source) for e in self.client.memories.history(added.id)], [("ADD", "extract")])

        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.jobs.cancel(done)  # it has succeeded
        self.assertEqual(ctx.exception.details["status"], "succeeded")
        with self.assertRaises(NotFoundError) as ctx:
            self.client.jobs.cancel("job_doesnotexist")
        self.assertEqual(ctx.exception.code, "JOB_NOT_FOUND")

    def test_invalid_messages(self) -> None:
        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.batch.extract([{"role": "robot", "content": "beep"}])
        self.assertEqual(ctx.exception.field, "messages[0].role")
        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.batch.extract([])
        self.assertEqual(ctx.exception.field, "messages")


def stand_in_reply(model: str, messages: list) -> str:
    if model == "stand-in-answer":
        return json.dumps({"answer": "Dark mode.", "grounded": True, "memories": [0]})
    return json.dumps({"facts": []})


class ModelTest(unittest.TestCase):
    """A server with a chat model (a local stand-in): grounded answers, and a running
    extraction canceled while its model call is outstanding."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.model = ChatStandIn(stand_in_reply)
        cls.server = MemoryServer(env=cls.model.env())
        cls.client = MemoryClient(api_key=cls.server.api_key, base_url=cls.server.base_url)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()
        cls.model.close()

    def test_query_with_answer(self) -> None:
        user = new_user()
        dark = self.client.memories.create(text="User prefers dark mode interfaces", user_id=user)
        self.client.memories.create(text="User has a dog named Biscuit", user_id=user)
        calls = len(self.model.requests)

        answer = self.client.query_with_answer("Which theme does the user like, dark mode?", user_id=user,
                                               prompt_template="Answer in two words: {question}")
        self.assertEqual((answer.response, answer.grounded, answer.model), ("Dark mode.", True, "stand-in-answer"))
        self.assertEqual([m.id for m in answer.memories], [dark.id])
        self.assertGreater(answer.memories[0].relevance, 0)
        sent = self.model.requests[calls]
        self.assertEqual(sent["model"], "stand-in-answer")
        self.assertEqual(sent["messages"][-1]["content"],
                         "Answer in two words: Which theme does the user like, dark mode?")
        self.assertIn("User prefers dark mode interfaces", sent["messages"][0]["content"])

        # Nothing relevant: the model is not asked, and the answer says it does not know.
        unknown = self.client.query_with_answer("What is the capital of France?", user_id=new_user())
        self.assertEqual((unknown.grounded, unknown.memories), (False, []))
        self.assertEqual(unknown.response, "I don't know: nothing I remember answers that.")
        self.assertEqual(len(self.model.requests), calls + 1)

    def test_cancel_a_running_extraction(self) -> None:
        self.model.hold.clear()  # the extraction model answers only once released
        self.addCleanup(self.model.hold.set)
        calls = len(self.model.requests)
        job = self.client.batch.extract([{"role": "user", "content": "I moved to Lisbon last spring."}],
                                        user_id=new_user())
        self.assertTrue(wait_for(lambda: len(self.model.requests) > calls), "the job never asked the model")
        self.assertEqual(self.client.jobs.get(job.id).status, "running")

        canceled = self.client.jobs.cancel(job)
        self.assertEqual((canceled.id, canceled.status), (job.id, "canceled"))
        self.assertTrue(canceled.finished_at)
        self.assertEqual(self.client.jobs.cancel(job.id).status, "canceled")  # again: the same answer
        self.model.hold.set()
        self.assertEqual(self.client.jobs.wait(job, poll_interval=0.05, timeout=10).status, "canceled")


class AuditTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_pages_iterator_and_jsonl(self) -> None:
        m = self.client.memories.create(text="audited", user_id=new_user())
        self.client.memories.get(m.id)
        page = self.client.account.audit(limit=2)
        self.assertEqual(len(page.events), 2)
        self.assertIsNotNone(page.next_cursor)
        # Newest first: the GET just made, then the create before it.
        self.assertEqual([e.endpoint for e in page.events], ["GET /v1/memories/{id}", "POST /v1/memories"])
        first = page.events[0]
        self.assertTrue(first.id.startswith("aud_"))
        self.assertEqual((first.org_id, first.status), (server.org_id, 200))
        self.assertTrue(first.user_agent.startswith("memory-api-python/"))
        self.assertTrue(first.request_id.startswith("req_"))

        events = list(self.client.account.audit_all(limit=3))
        ids = [e.id for e in events]
        self.assertEqual(len(ids), len(set(ids)))
        # The newest is the audit call above (a call is logged once answered), then the page.
        self.assertEqual(events[0].endpoint, "GET /v1/account/audit")
        self.assertEqual(ids[1:3], [e.id for e in page.events])
        self.assertGreater(len(events), 3)  # more than one page of 3

        lines = self.client.account.audit(format="jsonl").splitlines()
        exported = [json.loads(line)["id"] for line in lines]
        self.assertEqual(sorted(exported), exported)  # oldest first
        self.assertTrue(set(ids) <= set(exported))

        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.account.audit(format="xml")
        self.assertEqual(ctx.exception.field, "format")


class AlertsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)

    def test_create_list_delete(self) -> None:
        alert = self.client.alerts.create("api_calls", 80, "percent_of_limit", ["email"])
        self.assertTrue(alert.id.startswith("alr_"))
        self.assertEqual((alert.metric, alert.threshold, alert.threshold_type, alert.notify),
                         ("api_calls", 80, "percent_of_limit", ["email"]))
        self.assertIsNone(alert.last_triggered_at)
        self.assertIn(alert.id, [a.id for a in self.client.alerts.list()])

        deleted = self.client.alerts.delete(alert.id)
        self.assertEqual((deleted.id, deleted.deleted), (alert.id, True))
        self.assertNotIn(alert.id, [a.id for a in self.client.alerts.list()])
        with self.assertRaises(NotFoundError):
            self.client.alerts.delete(alert.id)

        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.alerts.create("api_calls", 80, "percent_of_limit", ["email", "sms"])
        self.assertEqual(ctx.exception.field, "notify[1]")


class Receiver:
    """A local webhook endpoint that records what it is sent and answers 204."""

    def __init__(self) -> None:
        self.bodies: list = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append((self.headers.get("webhook-id"), json.loads(raw)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hooks"
        threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class WebhooksTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = MemoryClient(api_key=server.api_key, base_url=server.base_url)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)

    def test_create_deliver_list_delete(self) -> None:
        hook = self.client.webhooks.create(self.receiver.url, ["memory.created", "memory.deleted"])
        self.assertTrue(hook.id.startswith("whk_"))
        self.assertTrue(hook.secret.startswith("whsec_"))
        self.assertEqual((hook.url, hook.events), (self.receiver.url, ["memory.created", "memory.deleted"]))
        listed = {w.id: w for w in self.client.webhooks.list()}
        self.assertIsNone(listed[hook.id].secret)  # shown once

        created = [self.client.memories.create(text=f"event {i}", user_id=new_user()) for i in range(3)]
        self.assertTrue(wait_for(lambda: len(self.receiver.bodies) >= 3), self.receiver.bodies)
        sent = {body["data"]["id"] for _, body in self.receiver.bodies if body["event"] == "memory.created"}
        self.assertEqual(sent, {m.id for m in created})

        page = self.client.webhooks.deliveries(hook.id, limit=2)
        self.assertEqual(len(page.deliveries), 2)
        self.assertIsNotNone(page.next_cursor)

        def all_succeeded():
            # limit=2 over three deliveries: the iterator follows next_cursor once.
            ds = list(self.client.webhooks.deliveries_all(hook.id, limit=2))
            return ds if len(ds) == 3 and all(d.status == "succeeded" for d in ds) else None

        done = wait_for(all_succeeded)
        self.assertTrue(done, list(self.client.webhooks.deliveries_all(hook.id)))
        self.assertEqual({d.id for d in done}, {wid for wid, _ in self.receiver.bodies})
        for d in done:
            self.assertEqual((d.event, d.attempts, d.response_status), ("memory.created", 1, 204))
            self.assertEqual([(a.response_status, a.error) for a in d.attempt_log], [(204, None)])
            self.assertEqual(d.attempt_log[0].attempted_at, d.last_attempt_at)

        deleted = self.client.webhooks.delete(hook.id)
        self.assertEqual((deleted.id, deleted.deleted), (hook.id, True))
        self.assertNotIn(hook.id, [w.id for w in self.client.webhooks.list()])
        with self.assertRaises(NotFoundError):
            self.client.webhooks.deliveries(hook.id)

        with self.assertRaises(InvalidRequestError) as ctx:
            self.client.webhooks.create(self.receiver.url, ["memory.exploded"])
        self.assertEqual(ctx.exception.field, "events[0]")


class InvoicesTest(unittest.TestCase):
    def test_new_org_has_none(self) -> None:
        client = MemoryClient(api_key=server.api_key, base_url=server.base_url)
        page = client.billing.invoices.list()
        self.assertEqual((page.invoices, page.next_cursor), ([], None))
        self.assertEqual(list(client.billing.invoices.list_all()), [])
        with self.assertRaises(NotFoundError) as ctx:
            client.billing.invoices.get("inv_doesnotexist")
        self.assertEqual((ctx.exception.code, ctx.exception.status), ("NOT_FOUND", 404))


class LastMonthInvoiceTest(unittest.TestCase):
    """A real invoice: last month's usage is recorded in a stopped server's data folder,
    the operator closes that month, and the org reads its invoice through the SDK."""

    def test_list_and_get(self) -> None:
        if shutil.which("go") is None:
            self.skipTest("recording last month's usage needs the go toolchain")
        billed = MemoryServer()
        self.addCleanup(billed.close)
        created = billed.admin("POST", "/v1/admin/orgs", {"name": "billed", "plan": "starter"})
        org_id, key = created["org"]["id"], created["api_key"]["key"]
        billed.stop()
        period = record_last_month(billed.data, org_id)
        billed.start()
        closed = billed.admin("POST", "/v1/admin/billing/close", {"period": period})
        # Only this org used last month: the others were created this month.
        self.assertEqual(len(closed["invoices"]), 1)

        client = MemoryClient(api_key=key, base_url=billed.base_url)
        page = client.billing.invoices.list()
        self.assertEqual(len(page.invoices), 1)
        self.assertIsNone(page.next_cursor)
        invoice = page.invoices[0]
        self.assertIsInstance(invoice, Invoice)
        self.assertEqual(invoice.raw, closed["invoices"][0])
        self.assertTrue(invoice.id.startswith("inv_"))
        self.assertEqual(invoice.status, "open")
        self.assertEqual(invoice.period.start, f"{period}-01T00:00:00Z")
        self.assertIsNone(invoice.stripe_invoice_id)
        self.assertTrue(all(isinstance(line, InvoiceLine) for line in invoice.lines))
        base = invoice.lines[0]  # the plan's base fee; 1,500 calls are within the quota
        self.assertEqual((base.metric, base.quantity, len(invoice.lines)), (None, 1, 1))
        self.assertTrue(base.description.startswith("Starter plan, "), base.description)
        self.assertGreater(invoice.total_usd, 0)
        self.assertEqual(invoice.total_usd, base.amount_usd)

        self.assertEqual(client.billing.invoices.get(invoice.id), invoice)
        self.assertEqual([i.id for i in client.billing.invoices.list_all(limit=1)], [invoice.id])

        # A test-mode key sees a sandbox that is never billed.
        sandbox = MemoryClient(api_key=client.keys.create("sandbox", ["admin"], mode="test").key,
                               base_url=billed.base_url)
        self.assertEqual(sandbox.billing.invoices.list().invoices, [])
        with self.assertRaises(NotFoundError):
            sandbox.billing.invoices.get(invoice.id)


class RateLimitTest(unittest.TestCase):
    """The server's own limiter: an org allowed 60 requests a minute (a bucket of 60,
    refilled one a second) answers 429 with Retry-After: 1 once the bucket is empty."""

    def setUp(self) -> None:
        created = server.admin("POST", "/v1/admin/orgs", {"name": "sdk-python-limited", "plan": "pro"})
        server.admin("PATCH", f"/v1/admin/orgs/{created['org']['id']}", {"limits": {"requests_per_minute": 60}})
        self.key = created["api_key"]["key"]

    def exhaust(self) -> RateLimitError:
        strict = MemoryClient(api_key=self.key, base_url=server.base_url, max_retries=0)
        for _ in range(200):
            try:
                strict.account.get()
            except RateLimitError as err:
                return err
        self.fail("no 429 after 200 requests")

    def test_429_is_retried_after_retry_after(self) -> None:
        err = self.exhaust()
        self.assertEqual((err.status, err.code, err.retry_after), (429, "RATE_LIMIT_EXCEEDED", 1))
        self.assertEqual((err.details["window"], err.details["limit"]), ("minute", 60))
        self.assertEqual(err.headers["retry-after"], "1")

        client = MemoryClient(api_key=self.key, base_url=server.base_url)
        waits: list = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        client._transport._sleep = sleep
        for _ in range(3):
            start = time.monotonic()
            memory = client.memories.create(text="written after the wait", user_id=new_user())
            elapsed = time.monotonic() - start
            if waits:
                break
            # The bucket refilled between the two calls (a very slow machine): again.
            self.exhaust()
        self.assertTrue(memory.id.startswith("mem_"))
        # The bucket was empty, so the first try was refused and the client waited the
        # server's Retry-After (1 s) before the try that succeeded.
        self.assertEqual(waits, [1.0])
        self.assertGreaterEqual(elapsed, 1.0)


if __name__ == "__main__":
    unittest.main()
