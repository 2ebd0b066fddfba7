"""The Batcher that coalesces fire-and-forget calls (pure Python, no Ray)."""

from __future__ import annotations

import threading

from faber_ray.actors.batching import Batcher


def test_a_full_batch_goes_at_once_and_the_rest_after_the_delay() -> None:
    sent: list[list[int]] = []
    arrived = threading.Event()

    def send(batch: list[int]) -> None:
        sent.append(batch)
        if sum(map(len, sent)) == 10:
            arrived.set()

    batcher = Batcher(send, max_items=4, max_delay=0.05)
    for number in range(10):
        batcher.add(number)
    assert arrived.wait(10)
    assert [n for batch in sent for n in batch] == list(range(10))  # in order, nothing lost
    assert len(sent) < 10 and max(map(len, sent)) <= 4
    batcher.close()


def test_close_sends_what_is_left_and_a_failing_send_does_not_stop_it() -> None:
    sent: list[list[str]] = []
    done = threading.Event()

    def send(batch: list[str]) -> None:
        if batch == ["boom"]:
            raise RuntimeError("the Monitor is gone")
        sent.append(batch)
        done.set()

    batcher = Batcher(send, max_items=1, max_delay=60)
    batcher.add("boom")
    batcher.add("after")
    assert done.wait(10)
    assert sent == [["after"]]
    batcher.close()
