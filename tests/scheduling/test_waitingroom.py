"""The entry rules of the queue: total room, per-user quotas, fewest-queued first."""

from __future__ import annotations

from faber_ray.models import Task
from faber_ray.scheduling.fairqueue import FairQueue, QueuedTask
from faber_ray.scheduling.ledger import Need
from faber_ray.scheduling.users import UserCounts
from faber_ray.scheduling.waitingroom import WaitingRoom

TASK = Task(command="true")
_ids = iter(range(10**9))


def push(queue: FairQueue, user: str, count: int = 1) -> None:
    for _ in range(count):
        queue.push(QueuedTask(f"e{next(_ids)}", TASK, Need(1), user))


def test_room_counts_the_waiting_against_the_total_and_the_users_quota() -> None:
    queue, users = FairQueue(10), UserCounts()
    room = WaitingRoom(queue, users, max_queued_per_user=4)
    push(queue, "alice", 3)
    users.wait("alice")
    assert room.room("alice") == (10 - 3 - 1, 4 - 3 - 1)
    assert room.room("bob") == (6, 4)
    assert WaitingRoom(queue, users).room("alice") == (6, None)


def test_a_user_at_its_quota_waits_and_never_blocks_another() -> None:
    queue, users = FairQueue(100), UserCounts()
    room = WaitingRoom(queue, users, max_queued_per_user=2)
    push(queue, "alice", 2)
    room.arrive("alice")
    assert not room.may_enter("alice")
    assert room.may_enter("bob")  # alice is at her quota: she does not count as someone with fewer


def test_freed_room_goes_to_the_waiting_user_with_the_fewest_queued() -> None:
    queue, users = FairQueue(5), UserCounts()
    room = WaitingRoom(queue, users)
    push(queue, "flooder", 4)
    room.arrive("flooder")
    room.arrive("late")
    assert room.may_enter("late") and not room.may_enter("flooder")
    push(queue, "late")
    assert not room.may_enter("late")  # full
    queue.remove(next(iter(queue.ids())))
    assert room.may_enter("late")  # 1 queued against the flooder's 3
    room.leave("late")
    assert room.may_enter("flooder") and room.anyone_waiting
    room.leave("flooder")
    assert not room.anyone_waiting
