"""Read the files a user names: regular files only, with a bounded read.

Every input file of `fitts` (models and their includes, targets, protocols, trials,
schedules, calibration files, patient parameters) is read through :func:`read_text`.
It refuses what is not a regular file (folders, named pipes that would block, devices
such as ``/dev/zero`` that never end, kernel files under ``/proc`` and ``/sys``), names
the operating system refuses (too long, a NUL byte, a symlink loop), and reads at most
`limit` bytes whatever the file claims its size to be.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from fitts.errors import Location, ModelError, display_path, excerpt

#: largest input file read, bytes
MAX_FILE_BYTES = 1_000_000
#: longest file name (one path component) most file systems accept, bytes
MAX_NAME_BYTES = 255
_KERNEL_FOLDERS = ("/proc", "/sys")


def _shown(path: str | Path) -> str:
    try:
        return excerpt(str(display_path(path)), 200).strip("'\"")
    except (OSError, ValueError):
        return excerpt(str(path), 200).strip("'\"")


def check_path_text(path: str | Path, where: Location | None = None, what: str = "file") -> Path:
    """Refuse a path the operating system would refuse, before touching it.

    Raises
    ------
    ModelError
        For a NUL byte or a path component over 255 bytes, naming `where` (the file and
        line that named the path, if any).
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise ModelError(f"{what} path {excerpt(text)} contains a NUL byte", where or Location(),
                         "write the file name without control characters")
    for part in Path(text).parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ModelError(f"{what} path {excerpt(text)} has a name longer than {MAX_NAME_BYTES} bytes",
                             where or Location(), "file systems allow names of at most 255 bytes")
    return Path(text)


def read_bytes(path: str | Path, *, limit: int = MAX_FILE_BYTES, where: Location | None = None,
               what: str = "file") -> bytes:
    """The content of a regular file of at most `limit` bytes.

    Parameters
    ----------
    path
        The file.
    limit
        Largest size accepted, bytes; the read stops after ``limit + 1`` bytes, so a file
        that grows or lies about its size (``/proc``, devices) cannot exhaust memory.
    where
        The file and line that named `path` (an include, a trial's `theory:`), named in
        every error; without it the error names `path` itself.
    what
        What the file is ("model file", "include", ...), for messages.

    Raises
    ------
    ModelError
        Missing, not a regular file, unreadable, or larger than `limit`.
    """
    p = check_path_text(path, where, what)
    shown = _shown(p)
    loc = Location(shown) if where is None else where
    prefix = "" if where is None else f"{what} {shown}: "
    try:
        resolved = p.resolve(strict=False)
    except RuntimeError:  # symlink loop on Python < 3.13
        raise ModelError(f"{prefix}symbolic link loop", loc, "point the link at a real file") from None
    except OSError as exc:
        raise _os_error(exc, prefix, loc) from None
    if any(str(resolved) == k or str(resolved).startswith(k + "/") for k in _KERNEL_FOLDERS):
        raise ModelError(f"{prefix}{resolved} is a system file, not a {what}", loc,
                         "give the path of a file you wrote")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _os_error(exc, prefix, loc) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ModelError(f"{prefix}{shown} is a folder, not a {what}", loc, "name a .yaml file inside it")
        if not stat.S_ISREG(st.st_mode):
            kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else \
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file"
            raise ModelError(f"{prefix}{shown} is {kind}, not a {what}", loc, "give the path of an ordinary file")
        if st.st_size > limit:
            raise ModelError(f"{prefix}file is larger than {_size(limit)} ({_size(st.st_size)})", loc,
                             "input files describe structure and settings; put data elsewhere")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise ModelError(f"{prefix}file is larger than {_size(limit)}", loc,
                             "input files describe structure and settings; put data elsewhere")
        return b"".join(chunks)
    except OSError as exc:
        raise _os_error(exc, prefix, loc) from None
    finally:
        os.close(fd)


def read_text(path: str | Path, *, limit: int = MAX_FILE_BYTES, where: Location | None = None,
              what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes (see :func:`read_bytes`)."""
    data = read_bytes(path, limit=limit, where=where, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = _shown(path)
        loc = Location(shown) if where is None else where
        line = data[: exc.start].count(b"\n") + 1
        raise ModelError(f"{'' if where is None else what + ' ' + shown + ': '}file is not UTF-8 text "
                         f"(byte {exc.start}, line {line})", loc, "save the file as UTF-8") from None


def _size(n: int) -> str:
    return f"{n / 1e6:g} MB" if n >= 1_000_000 else f"{n / 1e3:g} kB" if n >= 1000 else f"{n} bytes"


def _os_error(exc: OSError, prefix: str, loc: Location) -> ModelError:
    reasons = {
        errno.ENOENT: ("file not found (the path does not exist)",
                       "check the path (relative paths start at the file that names them)"),
        errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
        errno.ELOOP: ("symbolic link loop", "point the link at a real file"),
        errno.ENAMETOOLONG: ("file name too long", "file systems allow names of at most 255 bytes"),
        errno.EACCES: ("permission denied", "make the file readable (chmod u+r)"),
        errno.EISDIR: ("is a folder, not a file", "name a file inside it"),
        errno.ENXIO: ("no such device or address (a socket or a pipe without writer)", "give an ordinary file"),
    }
    reason, hint = reasons.get(exc.errno or 0, (exc.strerror or "cannot be read", "give an ordinary readable file"))
    shown = excerpt(str(exc.filename), 200).strip("'\"") if exc.filename is not None else ""
    text = f"{prefix}{reason}" if prefix else f"{shown + ': ' if shown and not loc.file else ''}{reason}"
    return ModelError(text, loc, hint)


def is_readable_file(path: str | Path) -> bool:
    """True when `path` names an existing regular file (no error for odd names)."""
    try:
        check_path_text(path)
        return Path(path).is_file()
    except (ModelError, OSError, ValueError):
        return False
