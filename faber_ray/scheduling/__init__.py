"""The executor's decisions, in plain Python: the fair queue, placement, capacity, the caches and the statistics.

The actors in :mod:`faber_ray.actors` hold these objects and call them; keeping
them free of Ray lets them be unit-tested in microseconds.
"""

from faber_ray.scheduling.fairqueue import ANONYMOUS, FairQueue, QueuedTask
from faber_ray.scheduling.ledger import CapacityLedger
from faber_ray.scheduling.lru import FairCache, LRUCache
from faber_ray.scheduling.placement import Placement
from faber_ray.scheduling.stats import StatisticsTracker
from faber_ray.scheduling.usage import UsageBook, UsageReport

__all__ = [
    "ANONYMOUS", "CapacityLedger", "FairCache", "FairQueue", "LRUCache", "Placement", "QueuedTask",
    "StatisticsTracker", "UsageBook", "UsageReport",
]
