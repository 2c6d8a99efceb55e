"""The guarded Jinja sandbox every template part is compiled in.

Jinja's `ImmutableSandboxedEnvironment` refuses attribute walking and mutation; on top of it this
module adds resource guards (a time budget checked in the hooks the sandbox already calls, and
size checks before any operation that could allocate a huge value) and the undefined-variable
bookkeeping that makes send renders strict and preview renders lenient.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from types import CodeType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.lexer import TokenStream
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup, escape

from templates.errors import (
    RenderLimitError,
    TemplateError,
    TemplateRenderError,
    UnsafeTemplateError,
)

__all__ = [
    "MISSING_CLOSE",
    "MISSING_OPEN",
    "RenderLimits",
    "RenderState",
    "TemplateEnvironment",
    "current_state",
    "render_guarded",
    "start_render",
    "wrap_context",
]

#: Private-use characters framing a preview placeholder until the caller formats it.
MISSING_OPEN = "\ue000"
MISSING_CLOSE = "\ue001"

# Checking the clock costs ~50 ns; the hooks run often, so look only every few calls.
_CLOCK_EVERY = 32
# Iterables up to this size are counted at loop start instead of wrapped per item.
_SMALL_LOOP = 256
_MAX_RANGE = 100_000
# Elements a value may hold, counting nested containers (a list shared twice counts twice,
# since printing, joining or comparing it walks it twice).
_MAX_ITEMS = 100_000
# Characters a value may print as, whatever the part's output limit (an SMS may still read
# larger context data than it prints).
_MAX_VALUE_CHARS = 2_000_000
# Nesting of a value the template builds or prints (context data included).
_MAX_VALUE_DEPTH = 100
# Integers stay printable (Python refuses str() of ints over 4,300 digits) and cheap to multiply.
_MAX_INT_BITS = 10_000
# One extra tick per this many characters or elements a guarded operation handles, so a loop of
# large allocations meets the clock after a few of them, not after 32.
_TICK_CHARS = 4096
# Output chunks pulled per size check.
_BATCH = 64
# Jinja parses about 20,000 expression tokens a second; a real template has a few hundred.
_MAX_TOKENS = 10_000
# Python refuses more than 20 nested loops and Jinja's code generation slows down with depth.
_MAX_BLOCK_DEPTH = 20
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "with", "block", "autoescape"})


#: The clock of the time budget: this thread's CPU time, not the wall clock. What a template
#: costs is the work it makes; on a loaded machine (render workers run at a lower priority) a
#: wall-clock budget refused ordinary templates that merely waited for a core. Wall time stays
#: bounded by the render pool's timeout.
budget_clock = time.thread_time


@dataclass(frozen=True)
class RenderLimits:
    """Resource limits of one render.

    Attributes:
        time_budget: Seconds of CPU time a render may take before `RenderLimitError`.
        max_email_chars: Largest rendered email part, in characters (about 2 MB).
        max_sms_segments: Most SMS segments a rendered message may need.
    """

    time_budget: float = 1.0
    max_email_chars: int = 2_000_000
    max_sms_segments: int = 10


@dataclass
class RenderState:
    """Per-render bookkeeping, reachable from the sandbox hooks through a context variable."""

    deadline: float
    max_chars: int
    preview: bool
    missing: dict[str, None] = field(default_factory=dict)
    ticks: int = 0

    def tick(self, work: int = 1) -> None:
        """Count work and check the deadline every `_CLOCK_EVERY` units."""
        self.ticks += work
        if self.ticks >= _CLOCK_EVERY:
            self.ticks = 0
            self.check_deadline()

    def check_deadline(self) -> None:
        """Refuse to go on once the render has spent its time budget."""
        if budget_clock() > self.deadline:
            raise RenderLimitError("the template took too long to render (time budget spent)")

    def check_size(self, size: int) -> None:
        """Refuse a value that would exceed the output size."""
        if size > self.max_chars:
            raise RenderLimitError(
                f"the template produces too much output (over {self.max_chars:,} characters)"
            )

    def record_missing(self, path: str) -> int:
        """Remember a missing variable; return its index for the preview marker."""
        self.missing.setdefault(path, None)
        return list(self.missing).index(path)


_STATE: contextvars.ContextVar[RenderState | None] = contextvars.ContextVar(
    "templates_render_state", default=None
)


def current_state() -> RenderState | None:
    """The state of the render running in this context, if any."""
    return _STATE.get()


def start_render(limits: RenderLimits, *, preview: bool, max_chars: int) -> RenderState:
    """Create the state of a new render (not yet active: see `render_guarded`)."""
    return RenderState(
        deadline=budget_clock() + limits.time_budget, max_chars=max_chars, preview=preview
    )


def render_guarded(state: RenderState, run: Callable[[], Iterable[str]]) -> str:
    """Run a template's output generator under `state`, enforcing size and time as it streams.

    Chunks are pulled in batches so that the per-chunk work stays in C; a single chunk is
    already bounded by the guards on the operations that could make it huge.
    """
    token = _STATE.set(state)
    try:
        parts: list[str] = []
        total = 0
        max_chars = state.max_chars
        try:
            chunks = iter(run())
            while True:
                batch = list(islice(chunks, _BATCH))
                if not batch:
                    break
                total += sum(map(len, batch))
                if total > max_chars:
                    state.check_size(total)
                parts += batch
                state.tick()
        except RecursionError:
            raise RenderLimitError("the template recurses too deeply") from None
        except MemoryError:
            raise RenderLimitError("the template needs too much memory") from None
        except SecurityError as exc:
            raise UnsafeTemplateError(f"refused by the sandbox: {exc}") from None
        except TemplateError:
            raise
        except Exception as exc:  # any error of the author's expressions (1/0, bad types...)
            raise TemplateRenderError(f"the template failed: {type(exc).__name__}: {exc}") from None
        return "".join(parts)
    finally:
        _STATE.reset(token)


def _state() -> RenderState:
    state = _STATE.get()
    if state is None:  # evaluated outside render_guarded (e.g. constant folding): default limits
        return start_render(RenderLimits(), preview=False, max_chars=RenderLimits.max_email_chars)
    return state


# --- path tracking, so a missing variable is reported as `customer.first_name` -------------


class _PathDict(dict[Any, Any]):
    __slots__ = ("_dm_path",)
    _dm_path: str


class _PathList(list[Any]):
    __slots__ = ("_dm_path",)
    _dm_path: str

    def __iter__(self) -> Iterator[Any]:
        path = self._dm_path + "[]"
        for item in super().__iter__():
            yield _tracked(item, path)


def _tracked(value: Any, path: str) -> Any:
    kind = type(value)
    if kind is dict:
        wrapped_dict = _PathDict(value)
        wrapped_dict._dm_path = path
        return wrapped_dict
    if kind is list:
        wrapped_list = _PathList(value)
        wrapped_list._dm_path = path
        return wrapped_list
    return value


def wrap_context(
    context: Mapping[str, Any], template_globals: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Tag the context's dicts and lists with their path (copies only the top level).

    With `template_globals`, the result already holds the globals and can be used as a shared
    context (`Template.new_context(..., shared=True)`), saving a merge per render.
    """
    wrapped = dict(template_globals) if template_globals else {}
    for name, value in context.items():
        wrapped[name] = _tracked(value, name)
    return wrapped


def _path_of(obj: Any, name: Any) -> str:
    parent = getattr(obj, "_dm_path", None) if isinstance(obj, _PathDict | _PathList) else None
    if isinstance(obj, TrackingUndefined):
        parent = obj.path
    label = name if isinstance(name, str) else f"[{name!r}]"
    if parent is None:
        return str(label)
    return f"{parent}{label}" if label.startswith("[") else f"{parent}.{label}"


class TrackingUndefined(Undefined):
    """An undefined value that records itself as missing when used.

    Send renders print it as an empty string (the caller raises afterwards with every missing
    name); preview renders print a marker the caller turns into a visible placeholder. Tests
    (`if`, `is defined`, `default`) do not count as a use.
    """

    __slots__ = ()

    @property
    def path(self) -> str:
        """Dotted path of the missing value, e.g. `customer.first_name`."""
        if self._undefined_obj is missing:
            return str(self._undefined_name or self._undefined_hint or "?")
        return _path_of(self._undefined_obj, self._undefined_name)

    def _refuse_if_unsafe(self) -> None:
        if self._undefined_exception is SecurityError:
            raise UnsafeTemplateError(f"refused by the sandbox: {self._undefined_hint}")

    def _use(self) -> str:
        self._refuse_if_unsafe()
        state = _state()
        index = state.record_missing(self.path)
        if state.preview:
            return f"{MISSING_OPEN}{index}{MISSING_CLOSE}"
        return ""

    def __str__(self) -> str:
        return self._use()

    def __html__(self) -> Markup:
        # The marker holds only private-use characters and digits: nothing to escape.
        return Markup(self._use())  # noqa: S704

    def __iter__(self) -> Iterator[Any]:
        self._use()
        return iter(())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse_if_unsafe()
        return TrackingUndefined(name=_path_of(self, name))

    def __getitem__(self, key: Any) -> Any:
        self._refuse_if_unsafe()
        return TrackingUndefined(name=_path_of(self, key))

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        self._use()
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # `customer.locale.startswith("pt")` with no locale: the missing thing is the locale.
        self._refuse_if_unsafe()
        parent = self.path.rpartition(".")[0]
        if parent:
            return TrackingUndefined(name=parent)._fail_with_undefined_error()
        return self._fail_with_undefined_error()

    def __int__(self) -> int:  # type: ignore[override]
        self._use()
        return 0

    def __float__(self) -> float:  # type: ignore[override]
        self._use()
        return 0.0

    def _compare(self, other: Any) -> bool:
        self._use()
        return False

    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail_with_undefined_error
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _fail_with_undefined_error
    __pos__ = __neg__ = __pow__ = __rpow__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = _compare  # type: ignore[assignment]

    def __reduce__(self) -> Any:  # pragma: no cover - never pickled, but keep Undefined's contract
        return (TrackingUndefined, ())


# --- size estimates made before an operation allocates ------------------------------------


_CONTAINERS = (list, tuple, dict, set, frozenset)
# What may be printed: data, not Python machinery (methods, types, modules, generators...).
_VALUE_TYPES = frozenset(
    {str, Markup, int, float, bool, type(None), Decimal, dt.date, dt.datetime, dt.time}
)
_VALUE_BASES = (str, int, float, Decimal, dt.date, dt.time, Undefined)


def _weight(value: Any, state: RenderState, *, label: str | None = None) -> int:
    """Characters `value` prints as, about; refuse values too large, too many or too deep.

    Walks nested containers without recursion (deep context data cannot crash it), counting a
    shared container at each reference: `[x, x]` costs what printing it costs. With `label`,
    every element must also be a value (see `_refuse_non_value`).
    """
    if not isinstance(value, _CONTAINERS):
        if label is not None and type(value) not in _VALUE_TYPES:
            _refuse_non_value(value, label)
        return len(value) if isinstance(value, str | bytes) else 1
    total = nodes = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        container, depth = stack.pop()
        if depth >= _MAX_VALUE_DEPTH:
            raise RenderLimitError(f"the value is nested deeper than {_MAX_VALUE_DEPTH} levels")
        nodes += len(container)
        if nodes > _MAX_ITEMS:
            raise RenderLimitError(f"the template builds a value of over {_MAX_ITEMS:,} elements")
        items = container.items() if isinstance(container, dict) else ((None, v) for v in container)
        for key, item in items:
            if key is not None:
                total += len(key) if isinstance(key, str) else 1
            if isinstance(item, _CONTAINERS):
                stack.append((item, depth + 1))
                total += 2
            elif isinstance(item, str | bytes):
                total += len(item)
            else:
                total += 1
                if label is not None and type(item) not in _VALUE_TYPES:
                    _refuse_non_value(item, label, inside=True)
        _check_value_chars(total, state)
    state.tick(nodes // 64)
    return total


def _check_value_chars(size: int, state: RenderState) -> None:
    limit = max(state.max_chars, _MAX_VALUE_CHARS)
    if size > limit:
        raise RenderLimitError(f"the template builds a value of over {limit:,} characters")


def _refuse_non_value(value: Any, label: str, *, inside: bool = False) -> None:
    """Refuse to print Python internals (`<built-in method ...>`, memory addresses)."""
    if isinstance(value, _VALUE_BASES):
        return
    if callable(value):
        kind = "method" if getattr(value, "__self__", None) is not None else "function"
        if isinstance(value, type):
            kind = "type"
        if not inside:
            raise TemplateRenderError(
                f"`{label}` is a {kind}, not a value: did you mean `{label}()`?"
            )
    else:
        kind = f"{type(value).__name__} object"
    where = f"`{label}` holds a {kind}" if inside else f"`{label}` is a {kind}"
    raise TemplateRenderError(f"{where}, not a value that can be printed")


def _check_result(value: Any, state: RenderState) -> None:
    """Refuse a value an operation already made if it is too large to keep using."""
    if isinstance(value, str | bytes):
        if len(value) > _TICK_CHARS:  # short strings, the usual result, cost nothing here
            _check_value_chars(len(value), state)
            state.tick(len(value) // _TICK_CHARS)
    elif isinstance(value, int):
        _check_int_bits(value.bit_length())
    elif isinstance(value, _CONTAINERS):
        _weight(value, state)


def _check_sequence_size(kind: Any, size: int, state: RenderState) -> None:
    """Strings are bounded by the output size, lists and tuples by the value size."""
    if isinstance(kind, str | bytes):
        state.check_size(size)
    else:
        _check_value_chars(size, state)
    state.tick(size // _TICK_CHARS)


def _check_int_bits(bits: int) -> None:
    if bits > _MAX_INT_BITS:
        raise RenderLimitError(f"the template computes a number of over {_MAX_INT_BITS:,} bits")


def _check_format_spec(fmt: str) -> None:
    """Refuse `'{:>999999999}'`-style widths and nested specs before formatting allocates."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format itself will raise a clean error
    limit = _state().max_chars
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            raise UnsafeTemplateError("nested format specifications are not allowed")
        _check_width_digits(spec, limit)


def _check_width_digits(spec: str, limit: int) -> None:
    number = ""
    for char in spec + " ":
        if char.isdigit():
            number += char
            continue
        if number and int(number) > limit:
            raise RenderLimitError(f"a format width of {int(number):,} is too large")
        number = ""


def _check_percent_format(fmt: Any) -> None:
    if isinstance(fmt, str) and "%" in fmt:
        limit = _state().max_chars
        for piece in fmt.split("%")[1:]:
            _check_width_digits(piece[:24].replace("*", "9" * 12), limit)


def _label(node: nodes.Node) -> str:
    """How the author wrote an expression, as far as an error message needs it."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_label(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_label(node.node)}[{node.arg.value!r}]"
    if isinstance(node, nodes.Call):
        return f"{_label(node.node)}(...)"
    if isinstance(node, nodes.Filter) and node.node is not None:
        return f"{_label(node.node)}|{node.name}"
    return f"the expression on line {node.lineno}"


class _GuardedCodeGenerator(CodeGenerator):
    """Routes output, `~` and literals through value checks; folds nothing at compile time."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # Jinja evaluates constant output expressions while compiling; that would run filters
        # outside the render's guards and lose missing-variable reports. Only literals fold.
        if not isinstance(node, nodes.TemplateData | nodes.Const):
            raise nodes.Impossible()
        return str(super()._output_child_to_const(node, frame, finalize))

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        self.writeline("dm_printable = environment.printable_types")
        super().visit_Template(node, frame)

    # A render is mostly output expressions: plain values are checked inline, by type, and
    # only anything else costs a call (`environment.output_value`).
    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_pre(node, frame, finalize)
        self.write("(dm_out if type(dm_out := (")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        self.write(f")) in dm_printable else environment.output_value(dm_out, {_label(node)!r}))")
        super()._output_child_post(node, frame, finalize)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # As Jinja joins, with every operand checked as printed output and the result sized.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.checked_size({join}((")
        for arg in node.nodes:
            self.write("environment.output_value(")
            self.visit(arg, frame)
            self.write(f", {_label(arg)!r}), ")
        self.write(")))")

    # `[x, x]` doubles what printing, joining or comparing `x` costs while allocating nothing:
    # literals are weighed like the results of operators.
    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.checked_value(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.checked_value(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target such as `for a, b in ...`
            super().visit_Tuple(node, frame)
            return
        self.write("environment.checked_value(")
        super().visit_Tuple(node, frame)
        self.write(")")


def _too_deep(name: str | None, filename: str | None) -> TemplateSyntaxError:
    message = "the template nests expressions or blocks too deeply"
    return TemplateSyntaxError(message, 1, name, filename)


def _size_checked(tokens: Iterable[Any], name: str | None, filename: str | None) -> Iterator[Any]:
    """The tokens, refusing a source whose parsing alone would take seconds: the parser reads
    them from here, so it stops at the token that breaks a limit (one lexing pass, not two)."""
    depth = 0
    after_block_start = False
    for count, token in enumerate(tokens):
        if count > _MAX_TOKENS:
            message = f"the template has more than {_MAX_TOKENS:,} expression tokens"
            raise TemplateSyntaxError(message, token.lineno, name, filename)
        if after_block_start and token.type == "name":
            if token.value in _BLOCK_TAGS:
                depth += 1
                if depth > _MAX_BLOCK_DEPTH:
                    message = f"blocks nested deeper than {_MAX_BLOCK_DEPTH} levels"
                    raise TemplateSyntaxError(message, token.lineno, name, filename)
            elif token.value.startswith("end"):
                depth = max(depth - 1, 0)
        after_block_start = token.type == "block_begin"
        yield token


def _guard_loop(iterable: Any) -> Any:
    state = _state()
    size = getattr(iterable, "__len__", None)
    if size is not None and not isinstance(iterable, Undefined):
        count = size()
        if count <= _SMALL_LOOP:
            state.tick(count)
            return iterable
    return _ticking(iterable, state)


def _ticking(iterable: Iterable[Any], state: RenderState) -> Iterator[Any]:
    for index, item in enumerate(iterable):
        if not index & 63:
            state.tick(_CLOCK_EVERY)
        yield item


def _guarded_range(*args: int) -> range:
    for arg in args:
        if isinstance(arg, int) and abs(arg) > 10**12:
            raise RenderLimitError("range() bounds are too large")
    rng = range(*args)
    if len(rng) > _MAX_RANGE:
        raise RenderLimitError(f"range() may produce at most {_MAX_RANGE:,} numbers")
    return rng


_BOUNDED_STR_METHODS = {"center", "ljust", "rjust", "zfill"}
_SEQUENCES = (str, bytes, list, tuple)


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """`ImmutableSandboxedEnvironment` with resource guards and missing-variable tracking."""

    code_generator_class = _GuardedCodeGenerator
    #: Types printed without a call to `output_value` (read by the generated code).
    printable_types = _VALUE_TYPES | {TrackingUndefined}
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=TrackingUndefined,
            trim_blocks=False,
            lstrip_blocks=False,
            keep_trailing_newline=True,
            # None prints as nothing, not "None": a customer's empty first name must not
            # greet them as "Hi None" (the preview warns about it as `null-value`).
            finalize=_none_as_empty,
            # No constant folding: it would run the author's expressions at compile time,
            # outside the render's guards and its missing-variable bookkeeping.
            optimized=False,
        )
        self.globals.pop("lipsum", None)
        self.globals["range"] = _guarded_range
        for name, original in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, original)
        self.filters["_guard_loop"] = _guard_loop

    def _tokenize(
        self,
        source: str,
        name: str | None,
        filename: str | None = None,
        state: str | None = None,
    ) -> TokenStream:
        stream = super()._tokenize(source, name, filename, state)
        return TokenStream(_size_checked(stream, name, filename), name, filename)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError:
            raise _too_deep(name, filename) from None
        # Every loop iterable goes through a guard that counts iterations against the budget.
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, "_guard_loop", [], [], None, None, lineno=loop.lineno
            )
        return tree

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        try:
            return super()._generate(source, name, filename, defer_init)
        except RecursionError:
            raise _too_deep(name, filename) from None

    def _compile(self, source: str, filename: str) -> CodeType:
        try:
            return super()._compile(source, filename)
        except (RecursionError, SyntaxError, MemoryError):
            # Python refuses deep nesting of blocks and parentheses, and its compiler recurses
            # on deep expressions: for the author it is a syntax error of the template.
            raise _too_deep(None, filename) from None

    def checked_size(self, value: Any) -> Any:
        """Called by generated code after `~`: refuse values over the output size."""
        state = _state()
        if isinstance(value, str):
            state.check_size(len(value))
            state.tick(1 + len(value) // _TICK_CHARS)
        return value

    def checked_value(self, value: Any) -> Any:
        """Called by generated code on list, tuple and dict literals: refuse huge values."""
        state = _state()
        state.tick()
        _weight(value, state)
        return value

    def output_value(self, value: Any, label: str) -> Any:
        """Called by generated code on what a template prints: data only, of bounded size.

        Raises:
            TemplateRenderError: `value` is a method, type, module or other Python object.
        """
        if type(value) in _VALUE_TYPES or isinstance(value, TrackingUndefined):
            return value
        _weight(value, _state(), label=label)
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse arithmetic that would allocate a huge string, list or number.

        Sizes are estimated from the operands before Python computes anything: the length or
        weight of sequences, the bit length of integers.
        """
        state = _state()
        state.tick()
        both_ints = isinstance(left, int) and isinstance(right, int)
        if operator == "*":
            if both_ints:
                _check_int_bits(left.bit_length() + right.bit_length())
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(times, int):
                    size = _weight(seq, state) * max(times, 0)
                    if isinstance(seq, list | tuple) and len(seq) * times > _MAX_ITEMS:
                        raise RenderLimitError(
                            f"the template builds a list of over {_MAX_ITEMS:,} elements"
                        )
                    _check_sequence_size(seq, size, state)
        elif operator == "**":
            if both_ints and right > 0 and abs(left) > 1:
                _check_int_bits(right * left.bit_length())
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                _check_sequence_size(left, _weight(left, state) + _weight(right, state), state)
        elif operator == "%":
            _check_percent_format(left)
            _weight(right, state, label="the value formatted with %")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str):
            state.check_size(len(result))
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Count calls against the time budget and bound the width arguments of str methods."""
        state = _state()
        state.tick(4)
        name = getattr(__obj, "__name__", None)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes) and name in _BOUNDED_STR_METHODS and args:
            width = args[0]
            if isinstance(width, int):
                state.check_size(width)
        elif isinstance(owner, int) and name == "to_bytes":
            length = args[0] if args else kwargs.get("length", 1)
            if isinstance(length, int):
                state.check_size(length)
        elif isinstance(owner, str) and name == "translate":
            table = args[0] if args else None
            if isinstance(table, dict):
                longest = max((_weight(v, state) for v in table.values()), default=1)
                state.check_size(len(owner) * longest)
        elif isinstance(owner, str) and name == "replace" and len(args) >= 2:
            _check_replace(owner, args[0], args[1])
        elif isinstance(owner, str) and name == "expandtabs":
            tab = args[0] if args else 8
            if isinstance(tab, int):
                state.check_size(owner.count("\t") * tab + len(owner))
        elif isinstance(owner, str) and name == "join" and args:
            _check_join(owner, args[0])
        result = super().call(__context, __obj, *args, **kwargs)
        _check_result(result, state)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Resolve `obj.attribute`, tagging nested dicts and lists with their path.

        A dict's keys win over its methods, so `order.items` is the order's items, not
        `dict.items` (plain Jinja would return the method).
        """
        if isinstance(obj, dict) and attribute in obj:
            value = obj[attribute]
        else:
            value = super().getattr(obj, attribute)
        if isinstance(obj, _PathDict | _PathList) and type(value) in (dict, list):
            return _tracked(value, _path_of(obj, attribute))
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Resolve `obj[argument]`, tagging nested dicts and lists with their path."""
        value = super().getitem(obj, argument)
        if isinstance(obj, _PathDict | _PathList) and type(value) in (dict, list):
            label = "[]" if isinstance(obj, _PathList) else argument
            return _tracked(value, _path_of(obj, label))
        return value

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox `str.format` as Jinja does, after refusing huge field widths.

        The values formatted are printed, so they must be data like any output.
        """
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        _check_format_spec(fmt)
        label = f"a value given to {value.__name__}()"

        def checked(*args: Any, **kwargs: Any) -> str:
            state = _state()
            for arg in (*args, *kwargs.values()):
                _weight(arg, state, label=label)
            return wrapped(*args, **kwargs)

        return checked


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        _state().check_size(len(text) + count * max(len(new) - len(old), 0))


def _check_join(separator: Any, items: Any) -> None:
    if isinstance(items, list | tuple):
        state = _state()
        total = _weight(items, state) + len(str(separator)) * len(items)
        state.check_size(total)


# Filters that turn their input into text: they must not print Python internals either.
_PRINTING_FILTERS = frozenset(
    [
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "format",
        "indent",
        "join",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "tojson",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
    ]
)


def _is_lazy(value: Any) -> bool:
    """An iterator or generator (`map`, `select`...): only its items can be printed."""
    return hasattr(type(value), "__next__")


def _width_argument(state: RenderState, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    width = args[1] if len(args) > 1 else kwargs.get("width", 0)
    if isinstance(width, int) and not isinstance(width, bool):
        state.check_size(width)


def _count_argument(state: RenderState, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    count = args[1] if len(args) > 1 else kwargs.get("linecount", kwargs.get("slices", 1))
    if isinstance(count, int) and count > _MAX_ITEMS:
        raise RenderLimitError(f"`{name}` size {count:,} is too large")


def _format_argument(state: RenderState, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    if args:
        _check_percent_format(args[0])


def _replace_arguments(state: RenderState, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    if len(args) >= 3:
        _check_replace(str(args[0]), args[1], args[2])


def _join_arguments(state: RenderState, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    if args and isinstance(args[0], list | tuple):
        _check_join(args[1] if len(args) > 1 else kwargs.get("d", ""), args[0])


# Filters with a size argument of their own, checked before they allocate.
_ARGUMENT_CHECKS: dict[str, Callable[[RenderState, str, tuple[Any, ...], Any], None]] = {
    "center": _width_argument,
    "indent": _width_argument,
    "wordwrap": _width_argument,
    "batch": _count_argument,
    "slice": _count_argument,
    "format": _format_argument,
    "replace": _replace_arguments,
    "join": _join_arguments,
}


def _guard_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a built-in filter: weigh its arguments before, and its result after, it runs.

    The weights bound what any filter can make of its input (`sum` concatenating lists,
    `tojson` or `pprint` of a shared structure, `unique` hashing it...); a few filters take a
    size argument of their own, checked here too.
    """
    label = f"the value given to |{name}" if name in _PRINTING_FILTERS else None
    check_arguments = _ARGUMENT_CHECKS.get(name)
    reads_all = name == "join"

    def before(args: tuple[Any, ...], kwargs: Any) -> tuple[RenderState, tuple[Any, ...]]:
        state = _state()
        state.tick(4)
        if reads_all and args and _is_lazy(args[0]):
            # Joining reads the whole iterable anyway: read it first, so its items are checked.
            args = (list(args[0]), *args[1:])
        for arg in args:
            if type(arg) in _VALUE_TYPES:
                continue
            if isinstance(arg, _CONTAINERS) or (label is not None and not _is_lazy(arg)):
                _weight(arg, state, label=label)
        if check_arguments is not None:
            check_arguments(state, name, args, kwargs)
        return state, args

    pass_arg = getattr(original, "jinja_pass_arg", None)

    if pass_arg is not None:

        def guarded_with_ctx(first: Any, *args: Any, **kwargs: Any) -> Any:
            state, args = before(args, kwargs)
            result = original(first, *args, **kwargs)
            _check_result(result, state)
            return result

        guarded_with_ctx.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
        return guarded_with_ctx

    def guarded(*args: Any, **kwargs: Any) -> Any:
        state, args = before(args, kwargs)
        result = original(*args, **kwargs)
        _check_result(result, state)
        return result

    return guarded


def escape_path(path: str) -> Markup:
    """HTML-escape a variable path for a preview marker."""
    return escape(path)
