"""SQLModel tables, one module per area; importing this package registers them all.

Times are stored as naive UTC (SQLite keeps no zone); the web layer adds the ``Z``.
"""

from distribution.models.core import ApiKey, Customer, JSONVariant, Project, Segment, utcnow

__all__ = ["ApiKey", "Customer", "JSONVariant", "Project", "Segment", "utcnow"]
