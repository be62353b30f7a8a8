"""The progress bar of ``conduit seed``: a line per table with rows written and rows per second.

Drawn on stderr (stdout keeps the JSON counts that scripts read); where stderr is not a
terminal, rich prints the finished lines once instead of redrawing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class TableBars:
    """``SeedProgress`` drawn by rich: one bar per table, with its rows per second."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def table(self, name: str, total: int) -> None:
        self._tasks[name] = self._progress.add_task(name, total=total, rate="")

    def advance(self, name: str, rows: int) -> None:
        task_id = self._tasks[name]
        self._progress.advance(task_id, rows)
        task = self._progress.tasks[task_id]
        if task.elapsed:
            rate = f"{task.completed / task.elapsed:,.0f} rows/s"
            self._progress.update(task_id, rate=rate)


@contextmanager
def seed_progress(console: Console | None = None) -> Iterator[TableBars]:
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>14}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )
    with progress:
        yield TableBars(progress)
