"""The labs, by name: a module each (labs/lab.py is what they share)."""

from labs.catalog.budget_burn import BudgetBurn
from labs.catalog.cpu_or_wait import CpuOrWait
from labs.catalog.dependency_down import DependencyDown
from labs.catalog.failing_die import FailingDie
from labs.catalog.logs_for_a_trace import LogsForATrace
from labs.catalog.slow_hop import SlowHop
from labs.catalog.slow_query import SlowQuery
from labs.catalog.slowest_in_batch import SlowestInBatch

LABS = {lab.name: lab for lab in (SlowHop(), FailingDie(), SlowestInBatch(), DependencyDown(), LogsForATrace(),
                                  SlowQuery(), CpuOrWait(), BudgetBurn())}
