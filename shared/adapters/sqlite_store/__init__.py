"""The embedded `Store`: one SQLite file under the data directory.

`database.py` is the file (creation, sharing between threads and processes, the tables
made from configs/schemas); `store.py` the Store port's queries on it.
"""

from .database import MissingStoreError
from .store import SqliteStore

__all__ = ["MissingStoreError", "SqliteStore"]
