"""Work orders (工单): the caller's matter after the call, with the regulation deadlines (004 §14).

model       what a new order is made of (NewWorkOrder), who acts (Actor), what is announced (OrderEvent)
calendar    the working-day calendar: chinesecalendar plus the operator's year files
rules       the deadline rules as pure functions over the hotline's timezone and the calendar
clocks      an order's running clock: next deadline, warning, breach, 催办, escalation (pure)
states      the transition table: what may follow what, and who may do it (pure)
service     WorkOrderService: the one place that creates and changes work orders
intake      messages left in the dialplan fallback become callback orders
exceptions  typed errors with an error_id
"""

from aiohttp import web

from ivr.workorders.exceptions import WorkOrderError
from ivr.workorders.model import Actor, Deadlines, Demand, NewWorkOrder, OrderEvent, OrderSource
from ivr.workorders.rules import deadlines
from ivr.workorders.service import WorkOrderService

# Built once by ivr/app.py; the ACD, the flow engine, the fallback intake and the console use this instance.
ORDERS: web.AppKey[WorkOrderService] = web.AppKey("work_orders", WorkOrderService)

__all__ = ["ORDERS", "Actor", "Deadlines", "Demand", "NewWorkOrder", "OrderEvent", "OrderSource", "WorkOrderError",
           "WorkOrderService", "deadlines"]
