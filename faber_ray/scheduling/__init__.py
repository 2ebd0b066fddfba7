"""The executor's decisions, in plain Python: the queue, placement, capacity, the LRU and the statistics.

The actors in :mod:`faber_ray.actors` hold these objects and call them; keeping
them free of Ray lets them be unit-tested in microseconds.
"""

from faber_ray.scheduling.ledger import CapacityLedger
from faber_ray.scheduling.lru import LRUCache
from faber_ray.scheduling.placement import Placement
from faber_ray.scheduling.queue import QueuedTask, TaskQueue
from faber_ray.scheduling.stats import StatisticsTracker
from faber_ray.scheduling.usage import UsageBook, UsageReport

__all__ = ["CapacityLedger", "LRUCache", "Placement", "QueuedTask", "StatisticsTracker", "TaskQueue", "UsageBook", "UsageReport"]
