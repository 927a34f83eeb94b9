"""The task rules of the API contract: ``tasks`` (what each task route reads and writes)
``moves`` (where a task may go, and how a move locks and writes) and ``listing``
(pages by number or by cursor), used through this module."""

from todo_api.tasks.service.listing import list_tasks
from todo_api.tasks.service.moves import KEEP, Destination, move_task
from todo_api.tasks.service.tasks import (
    complete_task,
    create_task,
    delete_task,
    get_task,
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
