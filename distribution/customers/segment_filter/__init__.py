"""Segment filters: a JSON condition tree over customer fields and metadata.

``parse_filter`` validates the JSON once; ``matches`` checks one customer in memory (when an event
arrives) and ``filter_clause`` selects the same customers in SQL (counts, listings, bulk sends).
The language and its exact semantics are documented in ``docs/segments.md``.
"""

from distribution.customers.segment_filter.evaluate import matches
from distribution.customers.segment_filter.parse import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_VALUES,
    And,
    Condition,
    FieldRef,
    Filter,
    Instant,
    Not,
    Or,
    parse_filter,
)
from distribution.customers.segment_filter.sql import filter_clause

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_VALUES",
    "And",
    "Condition",
    "FieldRef",
    "Filter",
    "Instant",
    "Not",
    "Or",
    "filter_clause",
    "matches",
    "parse_filter",
]
