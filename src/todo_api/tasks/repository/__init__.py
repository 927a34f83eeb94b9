"""Task storage: the only place task statements are built and rows read.

Every statement filters on the owner (``user_id``), so another user's task is
simply not found. Statements are Core on the SQLModel tables, built once per
shape with bound parameters (so each is compiled once), and run with
``todo_api.kit.database``. Reads are in ``reads`` (the list's statements in
``list_statements``), writes in ``writes``; all are used through this module.
"""

from todo_api.tasks.repository.list_statements import After
from todo_api.tasks.repository.reads import (
    Page,
    StoredTask,
    find_task,
    list_page,
    task_fields,
)
from todo_api.tasks.repository.writes import (
    EDITABLE,
    TOGGLE,
    LockedTask,
    Place,
    TaskChange,
    Toggle,
    Written,
    create_task,
    delete_task,
    link_tags,
    lock_task,
    replace_tags,
    store_tags,
    write_in_transaction,
    write_task,
)

__all__ = [
    "EDITABLE",
    "TOGGLE",
    "After",
    "LockedTask",
    "Page",
    "Place",
    "StoredTask",
    "TaskChange",
    "Toggle",
    "Written",
    "create_task",
    "delete_task",
    "find_task",
    "link_tags",
    "list_page",
    "lock_task",
    "replace_tags",
    "store_tags",
    "task_fields",
    "write_in_transaction",
    "write_task",
]
