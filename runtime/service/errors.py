"""The service's error answer: a status and a JSON body saying what went wrong (shared by its modules)."""

from __future__ import annotations


class HttpError(Exception):
    """An answer other than success: a status and a JSON body saying what went wrong."""

    def __init__(self, status: int, error: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **extra}
        self.headers: dict = {}
