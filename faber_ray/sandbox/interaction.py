"""Two runs in two sandboxes, each one's stdout the other's stdin: an interactive problem.

The program and the interactor never share a container, a pipe or a file: each
runs in its own sandbox, and the bytes between them go through the host. Each
agent relays what its run writes as it writes it (an ``OUT`` frame); this
loop, in the worker, sends it on to the other agent as live stdin (a ``STDIN``
frame, see ``K_LIVE_STDIN`` in ``agent.h``), which the other agent writes into
its run's stdin pipe. One thread polls both channels, so a round trip costs
two host hops and no thread hand-off.

Nothing here can hang: each agent enforces its own run's wall clock whatever
the other side does (it buffers input its run does not read yet instead of
blocking, so the host's writes never wait), and this loop samples each run's
CPU time as :func:`faber_ray.sandbox.execution.run_once` does. When one side
ends, the other's stdin is closed, so a side waiting to read sees end of
file; a side that keeps running anyway ends at its own limit.
"""

from __future__ import annotations

import select
from collections.abc import Mapping

from faber_ray.sandbox.agent.channel import ChannelClosed
from faber_ray.sandbox.execution import Running

__all__ = ["interact"]


def interact(
    program: Running, interactor: Running, *,
    files: Mapping[str, str | bytes], interactor_files: Mapping[str, str | bytes],
) -> bool:
    """Start both runs (built with ``live_stdin``), wire them together and drive both to their end.

    Returns whether the interactor ended first (its verdict then stands over a program that failed
    only because its input ended). Both runs are finished (their cgroups read and removed) on return,
    whatever happened; ``NotStarted`` from the program's start means nothing ran.
    """
    interactor.start(interactor_files)
    try:
        program.start(files)
    except BaseException:
        interactor.kill()
        _drain(interactor)
        interactor.finish()
        raise
    program.on_stdout = interactor.send_stdin
    interactor.on_stdout = program.send_stdin
    order: list[Running] = []
    try:
        _pump(program, interactor, order)
    finally:
        for side in (program, interactor):
            if not side.ended:  # an error above: end it for sure before its cgroup goes
                side.kill()
                _drain(side)
        program.finish()
        interactor.finish()
    return bool(order) and order[0] is interactor


def _pump(program: Running, interactor: Running, order: list[Running]) -> None:
    sides = (program, interactor)
    poller = select.poll()
    by_fd: dict[int, Running] = {}
    told = 0
    for side in sides:
        by_fd[side.container.channel.fileno()] = side
        poller.register(side.container.channel.fileno(), select.POLLIN)
        poller.register(side.container.channel.wake_fileno(), select.POLLIN)
    while not (program.ended and interactor.ended):
        for side in sides:
            if not side.ended:
                side.tick()
        if program.execution.cancelled:
            interactor.kill()
        wait = min(side.wait() for side in sides if not side.ended)
        events = poller.poll(wait * 1000)
        for fd, _ in events:
            readable = by_fd.get(fd)
            if readable is None:  # a wake (a cancel): the next round's tick passes it on
                for side in sides:
                    side.container.channel.clear_wake()
            else:
                _take_ready(readable, order)
        for side in sides:  # frames read along with others wait in the channel's queue
            if side.container.channel.has_ready():
                _take_ready(side, order)
        while told < len(order):  # a side that ended closes the other's input: it reads end of file
            ended = order[told]
            other = interactor if ended is program else program
            other.send_stdin(b"")
            if ended.record.died:
                other.kill()  # its sandbox is gone: nothing more will come
            poller.unregister(ended.container.channel.fileno())  # a closed socket would wake every poll
            told += 1


def _take_ready(side: Running, order: list[Running]) -> None:
    """Every frame of ``side`` that can be read without waiting."""
    if side.ended:
        return
    channel = side.container.channel
    try:
        while not side.ended:
            message = channel.receive(0)
            if message is None:
                return
            side.take(*message)
    except ChannelClosed:
        side.died()
    finally:
        if side.ended and side not in order:
            order.append(side)


def _drain(side: Running) -> None:
    """Wait for a killed run's EXIT (the agent reports it once its processes are gone)."""
    try:
        while not side.ended:
            message = side.container.channel.receive(5.0)
            if message is None:
                side.died()  # it does not answer: the container is recycled (its record says it died)
                return
            side.take(*message)
    except ChannelClosed:
        side.died()
    except Exception:  # noqa: BLE001 - already failing: the first error is the one reported
        side.died()
