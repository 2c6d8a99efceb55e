"""Errors raised by the templates package.

Every error derives from one base class, so a caller can catch them all::

    TemplateError
    ├── TemplateSyntaxError      the source does not parse (Jinja or MJML); carries line, column
    ├── UnsafeTemplateError      the template tried something the sandbox refuses
    │                            (attribute walking, `mj-include`, ...)
    └── TemplateRenderError      the source parsed but a render failed
        ├── InvalidMjmlError        the rendered body is not valid MJML
        ├── MissingVariablesError   a send render met variables absent from the context
        ├── RenderLimitError        the render broke a limit: time, output or value size,
        │                           integer size, MJML or HTML nesting
        └── HeaderInjectionError    a rendered subject contains CR or LF
"""

from __future__ import annotations

__all__ = [
    "HeaderInjectionError",
    "InvalidMjmlError",
    "MissingVariablesError",
    "RenderLimitError",
    "TemplateError",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "UnsafeTemplateError",
]


class TemplateError(Exception):
    """Base class of every error of the templates package."""

    def __init__(self, message: str, *, part: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Which part of the source failed: "subject", "body", "text" or None.
        self.part = part


class TemplateSyntaxError(TemplateError):
    """The source does not parse; `line` and `column` are 1-based."""

    def __init__(self, message: str, *, line: int, column: int, part: str | None = None) -> None:
        super().__init__(message, part=part)
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"{self.part}, " if self.part else ""
        return f"{where}line {self.line}: {self.message}"


class UnsafeTemplateError(TemplateError):
    """The template tried something the sandbox refuses."""


class TemplateRenderError(TemplateError):
    """A render of a valid template failed."""


class InvalidMjmlError(TemplateRenderError):
    """The body, once rendered, is not valid MJML (MJML parses after Jinja has run)."""


class MissingVariablesError(TemplateRenderError):
    """A send render met variables that the context does not define."""

    def __init__(self, missing: list[str], *, part: str | None = None) -> None:
        self.missing = list(missing)
        names = ", ".join(self.missing)
        super().__init__(f"missing variables: {names}", part=part)


class RenderLimitError(TemplateRenderError):
    """The render broke a limit (time, output or value size, nesting) and was stopped."""


class HeaderInjectionError(TemplateRenderError):
    """A rendered subject contains a line break, which could inject mail headers."""
