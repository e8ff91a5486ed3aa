"""Small builders the tests share for product objects whose wiring ivr/app.py does in the service."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ivr.db import Database
from ivr.workorders import WorkOrderService

ZONE = ZoneInfo("Asia/Shanghai")  # the default [hotline] timezone


def order_service(db: Database) -> WorkOrderService:
    return WorkOrderService(db, ZONE)
