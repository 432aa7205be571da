"""The Python examples of the docs run verbatim against the real server.

Every ```python block of the pages below is run as its own program, as a reader would
paste it, against a fresh org: the only things taken from outside the block are the
environment variables the block itself reads (MEMORYD_API_KEY, MEMORYD_BASE_URL) and the
SDK on the import path (as `pip install ./sdk/python` would put it). When a ```text block
follows the example, it is what the example prints, to the character.
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import List, Optional, Tuple

from .support import REPO_ROOT, MemoryServer

PAGES = ["sdk/python/README.md", "docs/sdks/python.md", "docs/quickstart.md"]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def examples(page: str) -> List[Tuple[int, str, Optional[str]]]:
    """(line, code, expected output or None) of every python block of a page."""
    text = (REPO_ROOT / page).read_text()
    blocks = list(FENCE.finditer(text))
    out = []
    for i, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        expected = None
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if following and following.group(1) == "text" and not text[block.end():following.start()].strip():
            expected = following.group(2)
        out.append((text.count("\n", 0, block.start()) + 1, block.group(2), expected))
    return out


server: MemoryServer


def setUpModule() -> None:
    global server
    server = MemoryServer()


def tearDownModule() -> None:
    server.close()


class ExamplesTest(unittest.TestCase):
    def test_every_page_has_examples(self) -> None:
        for page in PAGES:
            self.assertTrue(examples(page), f"{page} has no python example")

    def test_examples_run_verbatim(self) -> None:
        for page in PAGES:
            for line, code, expected in examples(page):
                with self.subTest(example=f"{page}:{line}"):
                    self.run_example(f"{page}:{line}", code, expected)

    def run_example(self, name: str, code: str, expected: Optional[str]) -> None:
        created = server.admin("POST", "/v1/admin/orgs", {"name": name[:100], "plan": "pro"})
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO_ROOT / "sdk" / "python"),
            "MEMORYD_API_KEY": created["api_key"]["key"],
            "MEMORYD_BASE_URL": server.base_url,
        }
        with tempfile.TemporaryDirectory() as cwd:
            proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, f"{name} failed:\n{proc.stdout}{proc.stderr}")
        if expected is not None:
            self.assertEqual(proc.stdout, expected, f"{name} printed something else")


if __name__ == "__main__":
    unittest.main()
