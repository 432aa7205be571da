"""The SDK against the real memoryd binary: every call the server implements today."""

import unittest
import uuid

from memory_api import (
    AuthenticationError,
    ConfirmationRequiredError,
    IdempotencyConflictError,
    InsufficientScopeError,
    InvalidRequestError,
    MemoryAPIError,
    MemoryClient,
    NotFoundError,
)

from .support import MemoryServer

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


if __name__ == "__main__":
    unittest.main()
