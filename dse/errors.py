"""User-facing errors: one line naming the file, the key, the bad value and what is allowed."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake in the user's input. The CLI prints it on one line and exits with code 2."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        value: Any = None,
        allowed: str | None = None,
    ) -> None:
        parts = []
        if file:
            parts.append(str(file))
        if key:
            parts.append(f"key '{key}'")
        where = ": ".join(parts)
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f" (got {value!r})"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(" ".join(text.split("\n")))  # one line, whatever the parts hold
        self.file, self.key, self.value, self.allowed = file, key, value, allowed
