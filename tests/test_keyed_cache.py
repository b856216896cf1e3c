"""The bounded content-keyed cache shared by the analyses (fitts.analysis.keyed_cache)."""

from __future__ import annotations

import pytest

from fitts.analysis.keyed_cache import KeyedCache, keyed_cache
from fitts.analysis.rate_links import rate_links
from fitts.spec.load import load_model, models_dir


def test_equal_keys_compute_once_and_the_least_recently_used_entry_goes_first() -> None:
    calls: list[str] = []

    @keyed_cache(key=str.lower, maxsize=2)
    def shout(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert shout("a") == "A" and shout("A") == "A"  # same key: computed once
    shout("b")
    shout("a")  # a is now the most recently used
    shout("c")  # over the bound: b (least recently used) is dropped, a stays
    assert len(shout) == 2
    shout("a")
    shout("b")
    assert calls == ["a", "b", "c", "b"]
    shout.cache_clear()
    assert len(shout) == 0 and shout.__name__ == "shout"


def test_a_failed_call_is_not_kept() -> None:
    calls: list[int] = []

    def fail_once(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    cached = KeyedCache(fail_once, key=lambda x: x, maxsize=4)
    with pytest.raises(RuntimeError):
        cached(1)
    assert cached(1) == 1 and len(calls) == 2
    with pytest.raises(ValueError, match="at least 1"):
        KeyedCache(fail_once, key=lambda x: x, maxsize=0)


def test_rate_links_of_two_loads_of_one_file_are_one_result() -> None:
    path = models_dir() / "examples" / "panic.yaml"
    first, second = load_model(path), load_model(path)
    assert first is not second and first.content_hash == second.content_hash
    assert rate_links(first) and rate_links(first) is rate_links(second)
