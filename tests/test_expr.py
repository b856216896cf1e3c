"""Safe expressions: differential tests of every renderer, hypothesis trees, injection attempts."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from fitts.errors import Location, ModelError
from fitts.spec.expr import (
    MAX_CHARS,
    NumbaRenderer,
    NumpyRenderer,
    SympyRenderer,
    evaluate,
    numba_helpers,
    parse_expr,
)

NAMES = ("a", "b", "n")
ENV = {"a": np.array([0.3, -1.2, 2.5, 0.0]), "b": np.array([1.7, 0.4, -0.6, 3.0]),
       "n": np.array([3.0, -2.0, 4.0, 7.0])}

# (expression, python-evaluable with the same meaning?)
TRICKY = [
    ("a**b**2", False),  # negative base to fractional power: NaN in numpy
    ("-1%4", True),
    ("10//n", True),
    ("not a>0.5 or b", False),
    ("-a**2", True),
    ("where(a>b, a, b)", False),
    ("clip(a, 0, 1)", False),
    ("sigmoid(-a*30)", False),
    ("max(a, min(b, n))", False),
    ("a < b <= n", False),
    ("(a+b)*(a-b)/n", True),
    ("a if b > 1 else n", False),
    ("step(a) + abs(b) - pow(2, n)", False),
    ("exp(-abs(a)) * log(1 + b*b) + sqrt(abs(n)) + tanh(a) + sin(b) + cos(n) + pi - e", False),
    ("a % 0.7 - n // 1.5", True),
    ("(a != b) + (a == a) * 2", False),
]


def _numpy_fn(expr):
    src = NumpyRenderer({k: k for k in NAMES}).render(expr)
    code = compile(f"lambda a, b, n: {src}", "<test>", "eval")
    return eval(code, {"np": np})  # test only: rendered source of a checked tree


def _numba_fn(exprs):
    """One njit kernel evaluating several rendered expressions over arrays."""
    r = NumbaRenderer({k: f"{k}[i]" for k in NAMES})
    body = "\n".join(f"        out[{j}, i] = {r.render(e)}" for j, e in enumerate(exprs))
    src = f"def k(a, b, n, out):\n    for i in range(a.shape[0]):\n{body}\n"
    ns = {"math": math, **numba_helpers()}
    exec(compile(src, "<test>", "exec"), ns)  # test only: rendered source of checked trees
    return njit(error_model="numpy")(ns["k"])


def _sympy_values(expr) -> np.ndarray:
    syms = {k: sympy.Symbol(k, real=True) for k in NAMES}
    s = SympyRenderer(syms).render(expr)
    out = []
    for i in range(len(ENV["a"])):
        v = s.subs({syms[k]: sympy.Float(float(ENV[k][i])) for k in NAMES})
        v = complex(v.evalf())
        out.append(v.real if abs(v.imag) < 1e-12 else np.nan)
    return np.array(out)


def test_tricky_expressions_agree_across_renderers() -> None:
    exprs = [parse_expr(t, allowed_names=NAMES) for t, _ in TRICKY]
    kernel = _numba_fn(exprs)
    nb = np.empty((len(exprs), len(ENV["a"])))
    with np.errstate(all="ignore"):
        kernel(ENV["a"], ENV["b"], ENV["n"], nb)
        for j, ((text, pythonic), expr) in enumerate(zip(TRICKY, exprs, strict=True)):
            ref = np.asarray(evaluate(expr, ENV), dtype=float) * np.ones(4)
            np.testing.assert_allclose(_numpy_fn(expr)(**ENV), ref, rtol=1e-12, equal_nan=True,
                                       err_msg=text)
            np.testing.assert_allclose(nb[j], ref, rtol=1e-12, equal_nan=True, err_msg=text)
            if "**b**" not in text:  # sympy keeps complex powers of negative bases
                np.testing.assert_allclose(_sympy_values(expr), ref, rtol=1e-9, equal_nan=True,
                                           err_msg=text)
            if pythonic:
                for i in range(4):
                    env = {k: float(v[i]) for k, v in ENV.items()}
                    # reference: Python itself, on the arithmetic-only rows
                    py = eval(compile(text, "<ref>", "eval"), {"__builtins__": {}}, env)
                    assert math.isclose(py, ref[i], rel_tol=1e-12), text


# ---- hypothesis: random valid trees -------------------------------------------------

_leaf = st.one_of(st.sampled_from(NAMES), st.floats(-5, 5, allow_nan=False).map(lambda x: f"{x!r}"))


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"(-{c})"),
        st.tuples(children, children).map(lambda t: f"((abs({t[0]}) + 1) ** clip({t[1]}, -3, 3))"),
        st.tuples(children, st.sampled_from(["<", ">=", "=="]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, children, children).map(lambda t: f"where({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(children, children).map(lambda t: f"min({t[0]}, {t[1]})"),
        st.tuples(children, children).map(lambda t: f"max({t[0]}, {t[1]})"),
        children.map(lambda c: f"sigmoid({c})"),
        children.map(lambda c: f"exp(clip({c}, -20, 20))"),
    )


EXPRESSIONS = st.recursive(_leaf, _extend, max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(text=EXPRESSIONS)
def test_random_expressions_numpy_equals_reference(text: str) -> None:
    expr = parse_expr(text, allowed_names=NAMES)
    with np.errstate(all="ignore"):
        ref = np.asarray(evaluate(expr, ENV), dtype=float) * np.ones(4)
        got = np.asarray(_numpy_fn(expr)(**ENV), dtype=float) * np.ones(4)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300, equal_nan=True)


@settings(max_examples=3, deadline=None)
@given(texts=st.lists(EXPRESSIONS, min_size=30, max_size=30))
def test_random_expressions_numba_equals_reference(texts: list[str]) -> None:
    """One kernel per example evaluates 30 random expressions (one compile each is too slow)."""
    exprs = [parse_expr(t, allowed_names=NAMES) for t in texts]
    out = np.empty((len(exprs), 4))
    with np.errstate(all="ignore"):
        _numba_fn(exprs)(ENV["a"], ENV["b"], ENV["n"], out)
        for text, expr, row in zip(texts, exprs, out, strict=True):
            ref = np.asarray(evaluate(expr, ENV), dtype=float) * np.ones(4)
            np.testing.assert_allclose(row, ref, rtol=1e-9, atol=1e-300, equal_nan=True,
                                       err_msg=text)


# ---- junk and injection -------------------------------------------------------------


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=60))
def test_random_text_parses_or_raises_model_error_only(text: str) -> None:
    try:
        expr = parse_expr(text)
    except ModelError:
        return
    assert isinstance(expr.names, frozenset)


INJECTIONS = [
    ("__import__('os').system('ls')", r"only calls of the built-in functions by name"),
    ("__import__('os')", r"unknown function '__import__'"),
    ("open('/etc/passwd').read()", r"only calls of the built-in functions by name"),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("(lambda: 1)()", r"only calls of the built-in functions by name"),
    ("lambda: 1", r"Lambda syntax: lambda functions are not allowed"),
    ("[x for x in range(10)]", r"ListComp syntax: comprehensions are not allowed"),
    ("a.__class__", r"Attribute syntax: attribute access \(a\.b\) is not allowed in expression"),
    ("().__class__.__bases__", r"attribute access \(a\.b\) is not allowed"),
    ("exec('1')", r"unknown function 'exec'"),
    ("eval('1')", r"unknown function 'eval'"),
    ("globals()", r"unknown function 'globals'"),
    ("a[0]", r"Subscript syntax: indexing \(a\[0\]\) is not allowed"),
    ("{1: 2}", r"dicts \(\{\.\.\.\}\) are not allowed"),
    ("f'{a}'", r"strings \(f-strings\) are not allowed"),
    ("(a := 1)", r"assignment \(:=\) is not allowed"),
    ("'a'*10**9", r"strings are not allowed"),
    ("1 ^ 2", r"operator BitXor \(\^\) is not allowed(.|\n)*use \*\* for powers, not \^"),
    ("a & b", r"use `and` instead of &"),
    ("a | b", r"use `or` instead of \|"),
    ("~a", r"use `not`"),
    ("a is b", r"use == instead of `is`"),
    ("a in b", r"comparison In \(in\) is not allowed"),
    ("max(a, b=1)", r"positional arguments only"),
    ("exp(a, b)", r"exp\(\) takes 1 argument, got 2"),
    ("clip(a)", r"clip\(\) takes 3 arguments, got 1"),
    ("max(*a)", r"star arguments"),
    ("exp + 1", r"'exp' is a function; call it as exp\(\.\.\.\)"),
    ("True + 1", r"bool values \(True\) are not allowed"),
    ("None", r"NoneType values"),
    ("1j * a", r"complex values"),
    ("b'x'", r"strings are not allowed"),
    ("nan + a", r"name 'nan' is reserved"),
    ("_secret", r"may not start with _"),
    ("a, b", r"tuples \(a, b\) are not allowed"),
    ("a +", r"invalid syntax in expression 'a \+'"),
    ("a\x00", r"invalid syntax|cannot be parsed"),
    ("\ud800", r"cannot be parsed"),
    ("", r"empty expression"),
    ("   ", r"empty expression"),
    ("(" * 200 + "a" + ")" * 200, r"parentheses nested deeper than 40 levels"),
    ("(" * 900 + "a" + ")" * 900, r"parentheses nested deeper than 40 levels"),
    ("-" * 100 + "a", r"nested deeper than 40 levels"),
    ("exp(" * 45 + "a" + ")" * 45, r"nested deeper than 40 levels"),
    ("+".join(["a"] * 300), r"syntax nodes \(limit 400\)"),
    ("a+" * 3000 + "a", rf"longer than {MAX_CHARS} characters"),
]


@pytest.mark.parametrize(("text", "match"), INJECTIONS,
                         ids=[repr(t)[:40] for t, _ in INJECTIONS])
def test_injection_and_junk_rejected(text: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        parse_expr(text, allowed_names=NAMES)


def test_huge_powers_and_numbers_do_not_hang() -> None:
    """Constants are floats in the checked tree, so giant powers are inf at once."""
    t0 = time.perf_counter()
    big = parse_expr("9**9**9**9")
    assert evaluate(big, {}) == np.inf
    assert all(isinstance(n.value, float) for n in _constants(big))
    with np.errstate(all="ignore"):
        assert _numpy_fn(big)(**ENV) == np.inf
    huge = parse_expr("1" + "0" * 500 + " * a")  # int literal too large for a float
    assert np.all(evaluate(huge, ENV)[ENV["a"] > 0] == np.inf)
    assert time.perf_counter() - t0 < 5


def _constants(expr):
    import ast

    return [n for n in ast.walk(expr.tree) if isinstance(n, ast.Constant)]


def test_all_constants_in_checked_tree_are_floats() -> None:
    expr = parse_expr("2**3 + 7//2 - 1e999 * 0 + a", allowed_names=NAMES)
    assert {type(n.value) for n in _constants(expr)} == {float}


def test_inf_renders_in_every_target() -> None:
    expr = parse_expr("min(a, inf) + max(b, -1e999) + clip(n, -inf, 2)", allowed_names=NAMES)
    assert "inf" not in expr.names
    with np.errstate(all="ignore"):
        ref = evaluate(expr, ENV)
        np.testing.assert_allclose(_numpy_fn(expr)(**ENV), ref, rtol=1e-12)
        nb = np.empty((1, 4))
        _numba_fn([expr])(ENV["a"], ENV["b"], ENV["n"], nb)
    np.testing.assert_allclose(nb[0], ref, rtol=1e-12)
    np.testing.assert_allclose(_sympy_values(expr), ref, rtol=1e-9)
    assert parse_expr(float("inf")).tree.value == math.inf
    assert NumpyRenderer({}).render(parse_expr(float("-inf"))) == "np.float64((-np.inf))"
    assert NumbaRenderer({}).render(parse_expr(float("nan"))) == "math.nan"


def test_numbers_become_constants() -> None:
    cases = [(2, 2.0), (2.5, 2.5), (np.float64(0.25), 0.25), (np.int64(3), 3.0),
             (10**400, math.inf), (-(10**400), -math.inf)]
    for value, expected in cases:
        expr = parse_expr(value)
        assert expr.names == frozenset()
        assert type(expr.tree.value) is float
        assert evaluate(expr, {}) == expected
    with pytest.raises(ModelError, match=r"expected an expression or a number, got True"):
        parse_expr(True)
    with pytest.raises(ModelError, match=r"expected an expression \(text\) or a number, got list"):
        parse_expr([1, 2])  # type: ignore[arg-type]


def test_numpy_source_works_with_scalars() -> None:
    expr = parse_expr(TRICKY[5][0] + " + " + TRICKY[8][0], allowed_names=NAMES)
    scalars = {"a": 0.3, "b": 1.7, "n": 3.0}
    got = _numpy_fn(expr)(**scalars)
    assert np.ndim(got) == 0
    assert float(got) == pytest.approx(float(evaluate(expr, scalars)))


def test_every_error_quotes_text_and_keeps_location() -> None:
    loc = Location("model.yaml", 7, "observation 'vas'.expr")
    for text in ("a +", "a.b", "foo(a)", "a ^ 2", "+".join(["a"] * 300), "(" * 50 + "a" + ")" * 50):
        with pytest.raises(ModelError, match=r"^model\.yaml:7, observation 'vas'\.expr: ") as info:
            parse_expr(text, allowed_names=NAMES, location=loc)
        assert repr(text)[:40] in str(info.value)
        assert info.value.location == loc


def test_unknown_name_suggests_and_names_location() -> None:
    loc = Location("model.yaml", 12, "node 'pain'.rate")
    with pytest.raises(ModelError, match=r"Did you mean 'threat'"):
        parse_expr("treat + 1", allowed_names={"threat"})
    with pytest.raises(ModelError, match=r"model\.yaml:12, node 'pain'\.rate: unknown name 'treat'"
                                         r" in expression 'treat \+ 1'\. Did you mean 'threat'\?"
                                         r"\n  hint: names allowed here: pain, threat"):
        parse_expr("treat + 1", allowed_names={"threat", "pain"}, location=loc)
    many = {f"p{i:03d}" for i in range(100)}
    with pytest.raises(ModelError, match=r"p024, \.\.\. \(100 in all\)") as info:
        parse_expr("q", allowed_names=many)
    assert "p099" not in str(info.value)
    with pytest.raises(ModelError, match=r"unknown function 'sigmoud'.*Did you mean 'sigmoid'"):
        parse_expr("sigmoud(a)")
    with pytest.raises(ModelError, match=r"may not start with _"):
        parse_expr("_a", allowed_names={"_a"})


def test_names_are_the_free_variables() -> None:
    assert parse_expr("sigmoid(a*b) + pi - min(n, 2)").names == {"a", "b", "n"}
    assert parse_expr("where(x > e, y, inf) + x*x").names == {"x", "y"}
    assert parse_expr("not (k1 < k2 < k3) and drive", allowed_names={"k1", "k2", "k3", "drive",
                                                                     "z"}).names == {
        "k1", "k2", "k3", "drive"}
    assert parse_expr(" a ").text == " a "
    assert parse_expr("3.5").names == frozenset()
    assert parse_expr(2).names == frozenset()
