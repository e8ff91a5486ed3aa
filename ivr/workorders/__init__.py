"""Work orders (工单): the caller's matter after the call, with the regulation deadlines (004 §14).

model       what a new order is made of (NewWorkOrder) and its computed deadlines
rules       the deadline rules as pure functions over the hotline's timezone
service     WorkOrderService: the one place that creates (and later changes) work orders
intake      messages left in the dialplan fallback become callback orders
exceptions  typed errors with an error_id
"""

from aiohttp import web

from ivr.workorders.exceptions import WorkOrderError
from ivr.workorders.model import Deadlines, NewWorkOrder, OrderSource
from ivr.workorders.rules import deadlines
from ivr.workorders.service import WorkOrderService

# Built once by ivr/app.py; the ACD, the flow engine, the fallback intake and the console use this instance.
ORDERS: web.AppKey[WorkOrderService] = web.AppKey("work_orders", WorkOrderService)

__all__ = ["ORDERS", "Deadlines", "NewWorkOrder", "OrderSource", "WorkOrderError", "WorkOrderService", "deadlines"]
