"""Domain errors. Each carries a polite Chinese message that the chat shows as it is."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request. `message` is shown to the user; `code` is for logs and tests."""

    code = "domain_error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_text(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class NotFound(DomainError):
    code = "not_found"


class Ambiguous(DomainError):
    """Several records match; `choices` lets the caller ask the user which one."""

    code = "ambiguous"

    def __init__(self, message: str, choices: list[tuple[int | str, str]], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.choices = choices


class InvalidInput(DomainError):
    code = "invalid_input"


class PermissionDenied(DomainError):
    code = "permission_denied"


class Conflict(DomainError):
    """The change clashes with the current state (already done, frozen, stale card...)."""

    code = "conflict"


class RuleViolation(DomainError):
    """A sales-process rule (stage order, evidence, capacity) refused the change."""

    code = "rule_violation"
