"""What a run has to act on, stated once: the tasks of some years, in some states, whose
date or instant has been reached (or is not known). Each reconcile step selects its tasks
by one of these (``where``); the run's existence check asks the same of the index
(``probes``), so a run with nothing due reads one index entry per year and state.

The probes are ``ORDER BY … LIMIT 1`` lookups — the first (earliest) value, and whether
any is NULL — on the indexes led by (year, state, column): the database takes them from
the index whatever its statistics say, where an ``EXISTS`` over the same condition may be
planned as a scan of the table (PostgreSQL did, on a freshly loaded ledger).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from .tables import Task


@dataclass(frozen=True)
class Due:
    """Tasks in ``states`` whose ``column`` has reached ``bound`` (``<=``; ``<`` when
    ``strict``), or — with ``or_null`` — is NULL (not known yet). ``bound`` None: every
    task in those states."""

    states: tuple[str, ...]
    column: Any  # a Task column with an index led by (programme_year_id, state)
    bound: Any = None
    strict: bool = False
    or_null: bool = False

    def _reached(self, value: Any) -> ColumnElement[bool]:
        return value < self.bound if self.strict else value <= self.bound

    def where(self, py_ids: list[int]) -> ColumnElement[bool]:
        mine = and_(Task.programme_year_id.in_(py_ids), Task.state.in_(self.states))
        if self.bound is None:
            return mine
        reached = self._reached(self.column)
        if self.or_null:
            reached = or_(reached, self.column.is_(None))
        return and_(mine, reached)

    def probes(self, py_ids: list[int]) -> list[ColumnElement[Any]]:
        """Conditions true when a task of one year and state is due — each one index probe."""
        if self.bound is None:
            raise ValueError("every task in some states is not a condition to probe for")
        out: list[ColumnElement[Any]] = []
        for py in py_ids:
            for state in self.states:
                mine = (Task.programme_year_id == py, Task.state == state)
                first = select(self.column).where(*mine, self.column.is_not(None)).order_by(self.column.asc()).limit(1)
                out.append(self._reached(first.scalar_subquery()))
                if self.or_null:  # the index read backwards gives its NULLs first
                    last = select(self.column.is_(None)).where(*mine).order_by(self.column.desc().nulls_first()).limit(1)
                    out.append(last.scalar_subquery())
        return out
