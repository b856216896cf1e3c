"""Safe expressions: parse with `ast`, check against a whitelist, render per target.

The whitelist *is* the dispatch table: the checker has one ``visit_<Node>`` method per
allowed node type and rejects any other node with a message that says what to write
instead. Renderers (NumPy, numba, sympy) walk the same checked tree; the reference
interpreter :func:`evaluate` walks it too, without generating any code. Nothing from a
model file is ever passed to `eval`/`exec`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitts.errors import Location, ModelError, did_you_mean

MAX_CHARS = 2000
MAX_DEPTH = 40
MAX_NODES = 400

#: allowed functions and their arity (a number, or (min, max))
FUNCTIONS: dict[str, int | tuple[int, int]] = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "tanh": 1, "sin": 1, "cos": 1, "sigmoid": 1,
    "step": 1, "min": 2, "max": 2, "pow": 2, "clip": 3, "where": 3,
}
#: random draws from the patient's event stream, allowed only in event updates (`set:`)
RANDOM_FUNCTIONS: dict[str, int | tuple[int, int]] = {"uniform": 0, "normal": 0, "bernoulli": 1}
#: what to do with an expression too large or too deep for one line
SPLIT_HINT = ("split it: name its shared parts as auxiliaries (`auxiliaries:`, over states, inputs "
              "and parameters) or as derived parameters (over parameters only)")
#: names usable as constants in every expression
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf}
#: names a model may not declare (functions, constants and Python's literal words)
RESERVED: frozenset[str] = frozenset(FUNCTIONS) | frozenset(CONSTANTS) | frozenset(
    {"nan", "True", "False", "None"})

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv)
_CMPOPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_ALLOWED_SUMMARY = ("write numbers, names, + - * / ** % //, comparisons, and/or/not, "
                    "`x if c else y` and the functions " + ", ".join(FUNCTIONS))
_COMPREHENSION = ("comprehensions are not allowed",
                  "write the formula out term by term")
#: rejected node types: (what it is in plain words, what to write instead)
_FORBIDDEN: dict[str, tuple[str, str]] = {
    "Attribute": ("attribute access (a.b) is not allowed",
                  "use plain names; every name is a number"),
    "Subscript": ("indexing (a[0]) is not allowed",
                  "use plain names; every name is a number"),
    "Slice": ("slices (a[1:2]) are not allowed",
              "use plain names; every name is a number"),
    "Lambda": ("lambda functions are not allowed",
               "write the formula directly, or declare an auxiliary or a derived parameter"),
    "ListComp": _COMPREHENSION, "SetComp": _COMPREHENSION, "DictComp": _COMPREHENSION,
    "GeneratorExp": _COMPREHENSION,
    "List": ("lists ([...]) are not allowed", "use numbers and names"),
    "Tuple": ("tuples (a, b) are not allowed",
              "an expression gives one number; check commas and parentheses"),
    "Dict": ("dicts ({...}) are not allowed", "use numbers and names"),
    "Set": ("sets ({...}) are not allowed", "use numbers and names"),
    "JoinedStr": ("strings (f-strings) are not allowed",
                  "use numbers and names"),
    "FormattedValue": ("strings (f-strings) are not allowed",
                       "use numbers and names"),
    "NamedExpr": ("assignment (:=) is not allowed",
                  "declare an auxiliary or a derived parameter instead"),
    "Starred": ("star arguments (*a) are not allowed",
                "pass each argument by position"),
    "Await": ("await is not allowed", _ALLOWED_SUMMARY),
    "Yield": ("yield is not allowed", _ALLOWED_SUMMARY),
    "YieldFrom": ("yield is not allowed", _ALLOWED_SUMMARY),
}
_OP_HINTS: dict[type, str] = {
    ast.BitXor: "use ** for powers, not ^",
    ast.BitAnd: "use `and` instead of &", ast.BitOr: "use `or` instead of |",
    ast.LShift: "bit shifts are not allowed", ast.RShift: "bit shifts are not allowed",
    ast.MatMult: "matrix product @ is not allowed; use *",
    ast.Invert: "bitwise ~ is not allowed; use `not`",
    ast.Is: "use == instead of `is`", ast.IsNot: "use != instead of `is not`",
    ast.In: "`in` is not allowed", ast.NotIn: "`not in` is not allowed",
}
_OP_WORDS: dict[type, str] = {
    ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>",
    ast.MatMult: "@", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
    ast.NotIn: "not in",
}


def _op_word(op: ast.AST) -> str:
    """An operator by AST name and symbol, e.g. ``BitXor (^)``."""
    kind = type(op).__name__
    return f"{kind} ({_OP_WORDS[type(op)]})" if type(op) in _OP_WORDS else kind


def _quote(text: str, limit: int = 120) -> str:
    """The expression text quoted for a message (shortened when long)."""
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


def _as_float(value: int | float) -> float:
    """A number as a float; integers too large for a float become inf (as 1e999 does)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _arity_ok(arity: int | tuple[int, int], n: int) -> bool:
    if isinstance(arity, tuple):
        return arity[0] <= n <= arity[1]
    return n == arity


def _arity_text(arity: int | tuple[int, int]) -> str:
    if isinstance(arity, tuple):
        return f"{arity[0]} to {arity[1]} arguments"
    return f"{arity} argument" + ("" if arity == 1 else "s")


def _listing(names: Collection[str], limit: int = 25) -> str:
    shown = sorted(names)
    return ", ".join(shown[:limit]) + (f", ... ({len(shown)} in all)" if len(shown) > limit
                                       else "") if shown else "(none)"


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


@dataclass(frozen=True)
class Expr:
    """A checked expression.

    Attributes
    ----------
    text
        The original text.
    tree
        The checked tree (body of the parsed `ast.Expression`); every constant is a float.
    names
        Free variable names (functions and the constants pi, e, inf excluded).
    """

    text: str
    tree: ast.expr
    names: frozenset[str]

    def __str__(self) -> str:
        return self.text


class _Checker:
    """Walks a parsed tree; one ``visit_<Node>`` method per allowed node type.

    Anything without a visit method is rejected: the whitelist is the dispatch table.
    """

    def __init__(self, text: str, allowed: Collection[str] | None, location: Location | None,
                 random: bool = False):
        self.text = text
        self.allowed = allowed
        self.location = location
        self.random = random
        self.names: set[str] = set()

    def fail(self, message: str, hint: str | None = None, suggestion: str = "") -> ModelError:
        """A ModelError quoting the expression; `suggestion` is a ' Did you mean ...?'."""
        text = f"{message} in expression {_quote(self.text)}"
        if suggestion:
            text += "." + suggestion
        return ModelError(text, self.location, hint)

    def visit(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression nested deeper than {MAX_DEPTH} levels", SPLIT_HINT)
        kind = type(node).__name__
        method: Callable[[Any, int], None] | None = getattr(self, f"visit_{kind}", None)
        if method is None:
            what, hint = _FORBIDDEN.get(kind, ("this kind of syntax is not allowed",
                                               _ALLOWED_SUMMARY))
            raise self.fail(f"{kind} syntax: {what}", hint)
        method(node, depth)

    def visit_Constant(self, node: ast.Constant, depth: int) -> None:
        value = node.value
        if isinstance(value, str | bytes):
            raise self.fail("strings are not allowed", "use numbers and names only")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{type(value).__name__} values ({value!r}) are not allowed",
                            "use real numbers only (1 for true, 0 for false)")
        # the tree is ours (freshly parsed): make every constant a float so that nothing
        # downstream ever does Python integer arithmetic (9**9**9 is inf, not a hang)
        node.value = _as_float(value)

    def visit_Name(self, node: ast.Name, depth: int) -> None:
        name = node.id
        if not isinstance(node.ctx, ast.Load):
            raise self.fail(f"assignment to {name!r} is not allowed")
        if name.startswith("_"):
            raise self.fail(f"name {name!r} is not allowed (names may not start with _)",
                            "rename it so that it starts with a letter")
        if name in CONSTANTS:
            return
        if name in FUNCTIONS:
            raise self.fail(f"{name!r} is a function; call it as {name}(...)")
        if name in RESERVED:
            raise self.fail(f"name {name!r} is reserved", _ALLOWED_SUMMARY)
        if self.allowed is not None and name not in self.allowed:
            raise self.fail(f"unknown name {name!r}",
                            f"names allowed here: {_listing(self.allowed)}; constants: "
                            + ", ".join(CONSTANTS), did_you_mean(name, self.allowed))
        self.names.add(name)

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> None:
        if not isinstance(node.op, _BINOPS):
            raise self.fail(f"operator {_op_word(node.op)} is not allowed",
                            _OP_HINTS.get(type(node.op)))
        self.visit(node.left, depth + 1)
        self.visit(node.right, depth + 1)

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> None:
        if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
            raise self.fail(f"operator {_op_word(node.op)} is not allowed",
                            _OP_HINTS.get(type(node.op)))
        self.visit(node.operand, depth + 1)

    def visit_Compare(self, node: ast.Compare, depth: int) -> None:
        for op in node.ops:
            if not isinstance(op, _CMPOPS):
                raise self.fail(f"comparison {_op_word(op)} is not allowed",
                                _OP_HINTS.get(type(op)))
        self.visit(node.left, depth + 1)
        for c in node.comparators:
            self.visit(c, depth + 1)

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> None:
        for v in node.values:
            self.visit(v, depth + 1)

    def visit_IfExp(self, node: ast.IfExp, depth: int) -> None:
        for v in (node.test, node.body, node.orelse):
            self.visit(v, depth + 1)

    def visit_Call(self, node: ast.Call, depth: int) -> None:
        functions = "functions: " + ", ".join(FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            raise self.fail("only calls of the built-in functions by name are allowed",
                            functions)
        name = node.func.id
        if name in RANDOM_FUNCTIONS and not self.random:
            raise self.fail(f"random draw {name}() is allowed only in an event's `set:` updates",
                            "draw the number in an event and keep it in a parameter (sample and hold)")
        table = {**FUNCTIONS, **RANDOM_FUNCTIONS} if self.random else FUNCTIONS
        if name not in table:
            raise self.fail(f"unknown function {name!r}", functions,
                            did_you_mean(name, table))
        if node.keywords:
            raise self.fail(f"{name}() takes positional arguments only",
                            f"pass {_arity_text(table[name])} in order, without name=")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("star arguments (*a) are not allowed",
                            "pass each argument by position")
        arity = table[name]
        if not _arity_ok(arity, len(node.args)):
            raise self.fail(f"{name}() takes {_arity_text(arity)}, got {len(node.args)}")
        for a in node.args:
            self.visit(a, depth + 1)


def parse_expr(text: str | int | float, *, allowed_names: Collection[str] | None = None,
               location: Location | None = None, random: bool = False) -> Expr:
    """Parse and check an expression from a model file.

    Parameters
    ----------
    text
        The expression (a number, e.g. a numeric YAML value, becomes a constant).
    allowed_names
        Names the expression may use; None allows any plain name (not starting with _).
    location
        Where the expression was written (passed to every error).
    random
        Allow the random draws of :data:`RANDOM_FUNCTIONS` (event updates only).

    Returns
    -------
    Expr
        The text, the checked tree (all constants floats) and the free names.

    Raises
    ------
    ModelError
        For anything outside the whitelist, unknown names or functions, wrong arity, or an
        expression too long, too large or too deeply nested. No other exception escapes.
    """
    if isinstance(text, bool | np.bool_):
        raise ModelError(f"expected an expression or a number, got {text!r}", location,
                         "write 1 or 0 instead of true or false")
    if isinstance(text, int | float | np.integer | np.floating):
        value = _as_float(text)  # type: ignore[arg-type]
        return Expr(repr(value), ast.Constant(value=value), frozenset())
    if not isinstance(text, str):
        raise ModelError(f"expected an expression (text) or a number, got "
                         f"{type(text).__name__} {_quote(repr(text))}", location,
                         "write the formula as a single line of text")
    if len(text) > MAX_CHARS:
        raise ModelError(f"expression {_quote(text, 60)} is longer than {MAX_CHARS} characters",
                         location, SPLIT_HINT)
    if not text.strip():
        raise ModelError(f"empty expression {text!r}", location, "write a number or a formula")
    if _bracket_depth(text) > MAX_DEPTH:
        raise ModelError(f"parentheses nested deeper than {MAX_DEPTH} levels in expression "
                         f"{_quote(text)}", location, "simplify it")
    try:
        parsed = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ModelError(f"invalid syntax in expression {_quote(text)}: {exc.msg}", location,
                         "use ** for powers; " + _ALLOWED_SUMMARY) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise ModelError(f"expression {_quote(text)} cannot be parsed (too deep or invalid "
                         f"characters)", location, "simplify it") from None
    n_nodes = sum(1 for _ in ast.walk(parsed))
    if n_nodes > MAX_NODES:
        raise ModelError(f"expression {_quote(text)} has {n_nodes} syntax nodes "
                         f"(limit {MAX_NODES})", location, SPLIT_HINT)
    checker = _Checker(text, allowed_names, location, random)
    checker.visit(parsed.body)
    return Expr(text, parsed.body, frozenset(checker.names))


# --------------------------------------------------------------------------- renderers

_PY_BINOP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
             ast.Mod: "%", ast.FloorDiv: "//"}
_PY_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class AbstractRenderer:
    """Walks a checked tree, dispatching on node type; subclasses choose the target."""

    def render(self, expr: Expr | ast.expr) -> Any:
        """Render an expression (or a checked tree) for this renderer's target.

        Parameters
        ----------
        expr
            A checked :class:`Expr` or its tree.

        Returns
        -------
        Any
            Source text (numpy, numba), a sympy expression, or a value (reference).
        """
        tree = expr.tree if isinstance(expr, Expr) else expr
        return self.node(tree)

    def node(self, n: ast.AST) -> Any:
        """Render one node by dispatching to ``render_<NodeType>``."""
        method = getattr(self, f"render_{type(n).__name__}", None)
        if method is None:  # only reachable with a tree that bypassed the checker
            raise TypeError(f"{type(self).__name__} cannot render {type(n).__name__} nodes; "
                            "pass trees checked by parse_expr")
        return method(n)


class _SourceRenderer(AbstractRenderer):
    """Renders Python source text; targets differ in function table and boolean handling.

    Parameters
    ----------
    name_map
        Source snippet for every free name, e.g. ``{"x": "X[0]", "k": "P[3]"}``.
    """

    module = ""

    def __init__(self, name_map: Mapping[str, str]):
        self.name_map = dict(name_map)

    def literal(self, v: float) -> str:
        """A float literal; inf and NaN through the target module (``np.inf``, ``math.nan``)."""
        if math.isnan(v):
            return f"{self.module}.nan"
        if math.isinf(v):
            return f"{self.module}.inf" if v > 0 else f"(-{self.module}.inf)"
        return f"({v!r})"

    def render_Constant(self, n: ast.Constant) -> str:
        return self.literal(_as_float(n.value))

    def render_Name(self, n: ast.Name) -> str:
        if n.id in CONSTANTS:
            return self.literal(CONSTANTS[n.id])
        return self.name_map[n.id]

    def render_BinOp(self, n: ast.BinOp) -> str:
        return f"({self.node(n.left)} {_PY_BINOP[type(n.op)]} {self.node(n.right)})"

    def render_UnaryOp(self, n: ast.UnaryOp) -> str:
        if isinstance(n.op, ast.Not):
            return self.truth(f"({self.node(n.operand)} == 0.0)")
        return f"({'-' if isinstance(n.op, ast.USub) else '+'}{self.node(n.operand)})"

    def render_Compare(self, n: ast.Compare) -> str:
        parts, left = [], self.node(n.left)
        for op, comp in zip(n.ops, n.comparators, strict=True):
            right = self.node(comp)
            parts.append(f"({left} {_PY_CMP[type(op)]} {right})")
            left = right
        return self.truth(self.conj(parts))

    def render_Call(self, n: ast.Call) -> str:
        args = [self.node(a) for a in n.args]
        return getattr(self, f"fn_{n.func.id}")(*args)  # type: ignore[attr-defined]


class NumpyRenderer(_SourceRenderer):
    """Vectorised source using `np.` only; names are arrays of patients (or scalars).

    Constants are numpy floats so that constant-only subexpressions follow IEEE rules
    (1/0 is inf) instead of raising Python's ZeroDivisionError or OverflowError. Run the
    result inside ``np.errstate`` to silence the warnings.

    Parameters
    ----------
    name_map
        Source snippet for every free name, e.g. ``{"x": "X[0]", "k": "P[3]"}``.
    """

    module = "np"

    def literal(self, v: float) -> str:
        return f"np.float64({super().literal(v)})"

    def truth(self, cond: str) -> str:
        return f"np.where({cond}, 1.0, 0.0)"

    def conj(self, parts: list[str]) -> str:
        out = parts[0]
        for p in parts[1:]:
            out = f"np.logical_and({out}, {p})"
        return out

    def render_BinOp(self, n: ast.BinOp) -> str:
        if isinstance(n.op, ast.Mod):
            return f"np.mod({self.node(n.left)}, {self.node(n.right)})"
        if isinstance(n.op, ast.FloorDiv):
            return f"np.floor_divide({self.node(n.left)}, {self.node(n.right)})"
        return super().render_BinOp(n)

    def render_BoolOp(self, n: ast.BoolOp) -> str:
        f = "np.logical_and" if isinstance(n.op, ast.And) else "np.logical_or"
        out = f"({self.node(n.values[0])} != 0.0)"
        for v in n.values[1:]:
            out = f"{f}({out}, ({self.node(v)} != 0.0))"
        return self.truth(out)

    def render_IfExp(self, n: ast.IfExp) -> str:
        return self.fn_where(self.node(n.test), self.node(n.body), self.node(n.orelse))

    def fn_where(self, c: str, a: str, b: str) -> str:
        return f"np.where({c} != 0.0, {a}, {b})"

    def fn_exp(self, x: str) -> str:
        return f"np.exp({x})"

    def fn_log(self, x: str) -> str:
        return f"np.log({x})"

    def fn_sqrt(self, x: str) -> str:
        return f"np.sqrt({x})"

    def fn_abs(self, x: str) -> str:
        return f"np.abs({x})"

    def fn_tanh(self, x: str) -> str:
        return f"np.tanh({x})"

    def fn_sin(self, x: str) -> str:
        return f"np.sin({x})"

    def fn_cos(self, x: str) -> str:
        return f"np.cos({x})"

    def fn_sigmoid(self, x: str) -> str:
        return f"(1.0 / (1.0 + np.exp(-({x}))))"

    def fn_step(self, x: str) -> str:
        return f"np.where({x} > 0.0, 1.0, 0.0)"

    def fn_min(self, a: str, b: str) -> str:
        return f"np.minimum({a}, {b})"

    def fn_max(self, a: str, b: str) -> str:
        return f"np.maximum({a}, {b})"

    def fn_pow(self, a: str, b: str) -> str:
        return f"({a} ** {b})"

    def fn_clip(self, x: str, lo: str, hi: str) -> str:
        return f"np.minimum(np.maximum({x}, {lo}), {hi})"


class NumbaRenderer(_SourceRenderer):
    """Scalar source for numba (`math.` functions); every subexpression is a float.

    min/max/clip call the NaN-propagating helpers of :func:`numba_helpers` (``_fmin``,
    ``_fmax``), which must be in the namespace the source is compiled in, so that NaN
    behaves as with ``np.minimum``/``np.maximum``.

    Parameters
    ----------
    name_map
        Source snippet for every free name, e.g. ``{"x": "X[0, p]"}``.
    """

    module = "math"

    def truth(self, cond: str) -> str:
        return f"(1.0 if {cond} else 0.0)"

    def conj(self, parts: list[str]) -> str:
        return "(" + " and ".join(parts) + ")"

    def render_BoolOp(self, n: ast.BoolOp) -> str:
        op = " and " if isinstance(n.op, ast.And) else " or "
        return self.truth("(" + op.join(f"({self.node(v)} != 0.0)" for v in n.values) + ")")

    def render_IfExp(self, n: ast.IfExp) -> str:
        return self.fn_where(self.node(n.test), self.node(n.body), self.node(n.orelse))

    def fn_where(self, c: str, a: str, b: str) -> str:
        return f"({a} if {c} != 0.0 else {b})"

    def fn_exp(self, x: str) -> str:
        return f"math.exp({x})"

    def fn_log(self, x: str) -> str:
        return f"math.log({x})"

    def fn_sqrt(self, x: str) -> str:
        return f"math.sqrt({x})"

    def fn_abs(self, x: str) -> str:
        return f"abs({x})"

    def fn_tanh(self, x: str) -> str:
        return f"math.tanh({x})"

    def fn_sin(self, x: str) -> str:
        return f"math.sin({x})"

    def fn_cos(self, x: str) -> str:
        return f"math.cos({x})"

    def fn_sigmoid(self, x: str) -> str:
        return f"(1.0 / (1.0 + math.exp(-({x}))))"

    def fn_step(self, x: str) -> str:
        return f"(1.0 if {x} > 0.0 else 0.0)"

    def fn_min(self, a: str, b: str) -> str:
        # NaN-propagating like np.minimum
        return f"_fmin({a}, {b})"

    def fn_max(self, a: str, b: str) -> str:
        return f"_fmax({a}, {b})"

    def fn_pow(self, a: str, b: str) -> str:
        return f"({a} ** {b})"

    def fn_clip(self, x: str, lo: str, hi: str) -> str:
        return f"_fmin(_fmax({x}, {lo}), {hi})"


def numba_helpers() -> dict[str, Callable]:
    """NaN-propagating min/max for generated numba code (njit-compiled on first use)."""
    from numba import njit

    @njit(inline="always")
    def _fmin(a: float, b: float) -> float:  # pragma: no cover - compiled
        if a != a or b != b:
            return math.nan
        return a if a < b else b

    @njit(inline="always")
    def _fmax(a: float, b: float) -> float:  # pragma: no cover - compiled
        if a != a or b != b:
            return math.nan
        return a if a > b else b

    return {"_fmin": _fmin, "_fmax": _fmax}


class SympyRenderer(AbstractRenderer):
    """Builds sympy objects directly (never `sympify` on text), e.g. for Jacobians.

    Parameters
    ----------
    symbols
        The sympy object standing for every free name.
    """

    def __init__(self, symbols: Mapping[str, Any]):
        import sympy

        self.sp = sympy
        self.symbols = dict(symbols)

    def render_Constant(self, n: ast.Constant) -> Any:
        v = _as_float(n.value)
        if math.isnan(v):
            return self.sp.nan
        if math.isinf(v):
            return self.sp.oo if v > 0 else -self.sp.oo
        return self.sp.Float(v)

    def render_Name(self, n: ast.Name) -> Any:
        constants = {"pi": self.sp.pi, "e": self.sp.E, "inf": self.sp.oo}
        if n.id in constants:
            return constants[n.id]
        return self.symbols[n.id]

    def render_BinOp(self, n: ast.BinOp) -> Any:
        a, b = self.node(n.left), self.node(n.right)
        sp = self.sp
        table = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                 ast.Div: lambda: a / b, ast.Pow: lambda: a**b, ast.Mod: lambda: sp.Mod(a, b),
                 ast.FloorDiv: lambda: sp.floor(a / b)}
        return table[type(n.op)]()

    def _truth(self, cond: Any) -> Any:
        return self.sp.Piecewise((self.sp.Float(1.0), cond), (self.sp.Float(0.0), True))

    def render_UnaryOp(self, n: ast.UnaryOp) -> Any:
        v = self.node(n.operand)
        if isinstance(n.op, ast.Not):
            return self._truth(self.sp.Eq(v, 0))
        return -v if isinstance(n.op, ast.USub) else v

    def render_Compare(self, n: ast.Compare) -> Any:
        sp = self.sp
        rel = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq,
               ast.NotEq: sp.Ne}
        parts, left = [], self.node(n.left)
        for op, comp in zip(n.ops, n.comparators, strict=True):
            right = self.node(comp)
            parts.append(rel[type(op)](left, right))
            left = right
        return self._truth(sp.And(*parts))

    def render_BoolOp(self, n: ast.BoolOp) -> Any:
        conds = [self.sp.Ne(self.node(v), 0) for v in n.values]
        f = self.sp.And if isinstance(n.op, ast.And) else self.sp.Or
        return self._truth(f(*conds))

    def render_IfExp(self, n: ast.IfExp) -> Any:
        return self.sp.Piecewise((self.node(n.body), self.sp.Ne(self.node(n.test), 0)),
                                 (self.node(n.orelse), True))

    def render_Call(self, n: ast.Call) -> Any:
        sp = self.sp
        a = [self.node(x) for x in n.args]
        name = n.func.id  # type: ignore[attr-defined]
        if name == "where":
            return sp.Piecewise((a[1], sp.Ne(a[0], 0)), (a[2], True))
        table: dict[str, Callable[..., Any]] = {
            "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "tanh": sp.tanh,
            "sin": sp.sin, "cos": sp.cos, "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
            "step": lambda z: sp.Piecewise((sp.Float(1.0), z > 0), (sp.Float(0.0), True)),
            "min": sp.Min, "max": sp.Max, "pow": lambda x, y: x**y,
            "clip": lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi),
        }
        return table[name](*a)


#: ``draw(function name, call index, arguments)``: the random draws of an event update
Draw = Callable[[str, int, list[Any]], Any]


class _Evaluator(AbstractRenderer):
    """Reference interpreter with numpy float64 semantics (no code generation)."""

    def __init__(self, env: Mapping[str, Any], draw: Draw | None = None):
        self.env = env
        self.draw = draw
        self.calls = 0  # random call sites met so far (numbers each site in tree order)

    def render_Constant(self, n: ast.Constant) -> Any:
        return np.float64(_as_float(n.value))

    def render_Name(self, n: ast.Name) -> Any:
        if n.id in CONSTANTS:
            return np.float64(CONSTANTS[n.id])
        return np.asarray(self.env[n.id], dtype=np.float64)

    def render_BinOp(self, n: ast.BinOp) -> Any:
        a, b = self.node(n.left), self.node(n.right)
        table = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
                 ast.Div: np.true_divide, ast.Pow: np.power, ast.Mod: np.mod,
                 ast.FloorDiv: np.floor_divide}
        return table[type(n.op)](a, b)

    def render_UnaryOp(self, n: ast.UnaryOp) -> Any:
        v = self.node(n.operand)
        if isinstance(n.op, ast.Not):
            return np.where(v == 0.0, 1.0, 0.0)
        return -v if isinstance(n.op, ast.USub) else +v

    def render_Compare(self, n: ast.Compare) -> Any:
        ops = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
               ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}
        out, left = True, self.node(n.left)
        for op, comp in zip(n.ops, n.comparators, strict=True):
            right = self.node(comp)
            out = np.logical_and(out, ops[type(op)](left, right))
            left = right
        return np.where(out, 1.0, 0.0)

    def render_BoolOp(self, n: ast.BoolOp) -> Any:
        vals = [self.node(v) != 0.0 for v in n.values]
        f = np.logical_and if isinstance(n.op, ast.And) else np.logical_or
        out = vals[0]
        for v in vals[1:]:
            out = f(out, v)
        return np.where(out, 1.0, 0.0)

    def render_IfExp(self, n: ast.IfExp) -> Any:
        return np.where(self.node(n.test) != 0.0, self.node(n.body), self.node(n.orelse))

    def render_Call(self, n: ast.Call) -> Any:
        a = [self.node(x) for x in n.args]
        name = n.func.id  # type: ignore[attr-defined]
        if name in RANDOM_FUNCTIONS:
            if self.draw is None:
                raise TypeError(f"{name}() needs a random stream; evaluate(..., draw=...)")
            site = self.calls
            self.calls += 1
            return self.draw(name, site, a)
        table: dict[str, Callable[..., Any]] = {
            "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "tanh": np.tanh,
            "sin": np.sin, "cos": np.cos, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
            "step": lambda z: np.where(z > 0.0, 1.0, 0.0), "min": np.minimum,
            "max": np.maximum, "pow": np.power,
            "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
            "where": lambda c, x, y: np.where(c != 0.0, x, y),
        }
        return table[name](*a)


def evaluate(expr: Expr, env: Mapping[str, Any], draw: Draw | None = None) -> Any:
    """Evaluate a checked expression with numpy float64 semantics (arrays broadcast).

    Floating-point warnings (overflow, division by zero) are silenced: results are
    inf/NaN, which the simulator reports per patient. This is the ground truth the
    renderers are tested against; it generates no code.

    Parameters
    ----------
    expr
        A checked expression.
    env
        Value (float or array) of every free name.
    draw
        Source of the random draws (an event update's ``uniform()``, ``normal()``,
        ``bernoulli(p)``), called with the function name, the index of the call site in
        the expression (depth-first, left to right) and the evaluated arguments.

    Returns
    -------
    numpy.ndarray or float
        The value, broadcast over the arrays in `env`.
    """
    with np.errstate(all="ignore"):
        return _Evaluator(env, draw).render(expr)
