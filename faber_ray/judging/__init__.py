"""Judging: tests with verdicts and points, built-in and custom checkers, stop rules.

Ray-free and engine-free: what a judged task is (:mod:`.cases`), how an output
is compared with its answer on the host (:mod:`.checkers`), how verdicts become
a score and when to stop (:mod:`.scoring`), and what is refused before
anything runs (:mod:`.rules`). Running the tests in sandboxes is the sandbox
layer's (:mod:`faber_ray.sandbox.judge`).
"""

from faber_ray.judging.cases import STOP_RULES, Checker, Judging, Stop, TestCase, TestResult, Verdict

__all__ = ["STOP_RULES", "Checker", "Judging", "Stop", "TestCase", "TestResult", "Verdict"]
