"""Who is calling: customers by phone or account, their area's outages, and the caller priority scale.

The one place that matches a caller to a customer record and finds outages, used by the flow engine, the AGI
lookup, the fallback intake and the console's screen pop, so every path agrees on who a caller is.
"""

from ivr.callers.directory import (
           OUTAGE_HORIZON,
           CallerDirectory,
           CallerFacts,
           active_outages,
)
from ivr.callers.priority import Priority, effective_priority
from ivr.callers.views import AccountView, CustomerView, OutageView

__all__ = ["AccountView", "CallerDirectory", "CallerFacts", "CustomerView", "OUTAGE_HORIZON", "OutageView",
           "Priority", "active_outages", "effective_priority"]
