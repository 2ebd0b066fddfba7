"""What the sandbox fixtures stamp on their containers, for tests that look for them by hand."""

from __future__ import annotations

import os

#: node_id the sandbox fixtures' runners stamp on their containers and results. It is
#: unique per pytest process, so two test runs sharing one engine never count (or
#: reap) each other's containers.
TEST_NODE_ID = f"test-node-{os.getpid()}"
