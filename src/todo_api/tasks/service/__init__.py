"""The task rules of the API contract: ``tasks`` (what each task route reads and writes)
and ``moves`` (where a task may go, and how a move locks and writes), used through
this module."""

from todo_api.tasks.service.moves import KEEP, Destination, move_task
from todo_api.tasks.service.tasks import (
    complete_task,
    create_task,
    delete_task,
    get_task,
    list_tasks,
    write_task,
)

__all__ = [
    "KEEP",
    "Destination",
    "complete_task",
    "create_task",
    "delete_task",
    "get_task",
    "list_tasks",
    "move_task",
    "write_task",
]
