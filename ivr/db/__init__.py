from ivr.db.session import Database, DatabaseUnavailable

__all__ = ["Database", "DatabaseUnavailable"]
