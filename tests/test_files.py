"""Reading input files: regular files only, bounded reads, errors that name the file (issue 18, item 4)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import TWO_NODE, write

from fitts.errors import ModelError
from fitts.spec.files import MAX_FILE_BYTES, read_text
from fitts.spec.load import load_model
from fitts.spec.yamlio import load_yaml_file


def test_reads_a_regular_file(tmp_path: Path) -> None:
    p = write(tmp_path, "m.yaml", "a: 1\n")
    assert read_text(p) == "a: 1\n"


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a folder"):
        read_text(tmp_path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as e:
        read_text(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(e.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="named pipe"):
        load_yaml_file(fifo)
    assert time.monotonic() - t0 < 5


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_device_is_refused() -> None:
    with pytest.raises(ModelError, match="device"):
        load_yaml_file("/dev/zero")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="no /proc")
@pytest.mark.parametrize("name", ["/proc/self/mem", "/proc/self/status"])
def test_kernel_files_are_refused(name: str) -> None:
    with pytest.raises(ModelError, match="system file"):
        load_yaml_file(name)


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(ModelError, match="symbolic link loop"):
        load_yaml_file(a)
    with pytest.raises(ModelError, match="symbolic link loop"):
        load_model(a)


def test_overlong_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="longer than 255 bytes"):
        load_yaml_file(tmp_path / ("x" * 300 + ".yaml"))
    with pytest.raises(ModelError, match="longer than 255 bytes"):
        load_model("y" * 300)


def test_nul_byte_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="NUL byte"):
        load_yaml_file(str(tmp_path / "a\x00b.yaml"))
    with pytest.raises(ModelError, match="NUL byte"):
        load_model("a\x00b")


def test_read_is_bounded(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ModelError, match="larger than 1 MB"):
        load_yaml_file(p)
    assert read_text(p, limit=MAX_FILE_BYTES + 10).startswith("#")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "latin.yaml"
    p.write_bytes(b"a: 1\nb: \xe9\n")
    with pytest.raises(ModelError, match="not UTF-8.*line 2"):
        load_yaml_file(p)


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = write(tmp_path, "m.yaml", TWO_NODE)
    p.chmod(0)
    with pytest.raises(ModelError, match="permission denied"):
        load_model(p)


@pytest.mark.parametrize("bad", ["pipe", "loop", "long", "nul", "proc", "folder"])
def test_include_errors_name_the_including_file_and_line(tmp_path: Path, bad: str) -> None:
    write(tmp_path, "ok.yaml", TWO_NODE)
    if bad == "pipe":
        os.mkfifo(tmp_path / "p.yaml")
        target, expect = "p.yaml", "named pipe"
    elif bad == "loop":
        (tmp_path / "l1.yaml").symlink_to(tmp_path / "l2.yaml")
        (tmp_path / "l2.yaml").symlink_to(tmp_path / "l1.yaml")
        target, expect = "l1.yaml", "symbolic link loop|cannot be resolved"
    elif bad == "long":
        target, expect = "z" * 300 + ".yaml", "longer than 255 bytes"
    elif bad == "nul":
        target, expect = "a\\0b.yaml", "NUL byte"
    elif bad == "proc":
        if not Path("/proc/self/status").exists():
            pytest.skip("no /proc")
        target, expect = "/proc/self/status", "system file"
    else:
        (tmp_path / "sub").mkdir()
        target, expect = "sub", "is a folder"
    main = write(tmp_path, "main.yaml", f'name: m\nincludes:\n  - {{path: ok.yaml}}\n  - {{path: "{target}"}}\n')
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=expect) as e:
        load_model(main)
    assert time.monotonic() - t0 < 10
    text = str(e.value)
    assert "main.yaml:4" in text, text
    assert "includes #2" in text
