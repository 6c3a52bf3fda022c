"""Writing files safely: atomically, and never over a file the user may have edited.

llmxl marks its workbooks with two custom document properties: ``llmxl`` (the
version that wrote it) and ``llmxl_fingerprint``, a SHA-256 of every part of the
.xlsx, the custom properties included (with the fingerprint's own value blanked).
A workbook whose parts still match its fingerprint is one llmxl wrote and nobody
has saved since; anything else, a file llmxl did not write, or one edited since,
is refused unless ``force``. (The fingerprint is written by :mod:`llmxl.workbook.files`.)

Outputs are regular files only: a device, a FIFO or a folder is never replaced,
a symbolic link is written through to its target (a regular file), a missing
folder is not created, and two outputs of one run may not be the same file.
Every face that writes (the CLI, the workbooks, a saved calibration) goes through here.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import LlmxlError

MARK = "llmxl"
FINGERPRINT = "llmxl_fingerprint"
CUSTOM_PART = "docProps/custom.xml"
PLACEHOLDER = "0" * 64
#: The most an overwrite check reads of an existing .xlsx (declared, uncompressed); beyond it, it is not ours.
MAX_CHECKED_BYTES = 512 * 1024**2


class OverwriteRefusedError(LlmxlError):
    """The target exists and llmxl cannot tell that overwriting it loses nothing."""


class OutputPathError(LlmxlError):
    """An output path that is not a writable regular file in an existing folder."""


def fingerprint_digest(parts: dict[str, bytes]) -> str:
    """SHA-256 of every part, by name (the custom properties part with the fingerprint blanked)."""
    h = hashlib.sha256()
    for name in sorted(parts):
        h.update(name.encode())
        h.update(b"\0")
        h.update(parts[name])
    return h.hexdigest()


def written_by_llmxl_unchanged(path: Path) -> tuple[bool, str]:
    """(True, '') if llmxl wrote ``path`` and its parts are untouched, else (False, why)."""
    import re

    try:
        with zipfile.ZipFile(path) as zf:
            if CUSTOM_PART not in zf.namelist():
                return False, "was not written by llmxl"
            if sum(i.file_size for i in zf.infolist()) > MAX_CHECKED_BYTES:
                return False, "is not a workbook written by llmxl (too large)"
            raw = zf.read(CUSTOM_PART)
            custom = raw.decode("utf-8", "replace")
            if f'name="{FINGERPRINT}"' not in custom:
                return False, "was not written by llmxl"
            # openpyxl writes <vt:lpwstr>; with lxml installed it declares the namespace on the element
            found = re.search(
                rf'name="{FINGERPRINT}"[^>]*>\s*<vt:lpwstr(?:\s[^>]*)?>([0-9a-f]{{64}})</vt:lpwstr>', custom
            )
            if found is None:
                return False, "was not written by llmxl"
            stored = found.group(1)
            parts = {name: zf.read(name) for name in zf.namelist()}
            parts[CUSTOM_PART] = raw.replace(stored.encode(), PLACEHOLDER.encode())
            digest = fingerprint_digest(parts)
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError, EOFError):
        return False, "is not a workbook written by llmxl"
    if digest != stored:
        return False, "was written by llmxl but has been changed since"
    return True, ""


def resolve_output(path: str | os.PathLike[str], *, force: bool) -> Path:
    """The regular file to write for ``path``, or OutputPathError / OverwriteRefusedError saying why not.

    A symbolic link resolves to its target, which must be a regular file (or not exist yet).
    """
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    parent = target.parent
    if not parent.exists():
        raise OutputPathError(f"folder {str(parent)!r} does not exist; create it first or choose another path")
    if not parent.is_dir():
        raise OutputPathError(f"{str(parent)!r} is a file, not a folder; choose another path")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise OutputPathError(f"cannot use {str(target)!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OverwriteRefusedError(f"{target} is a folder; give a file name such as {target / 'report.xlsx'}")
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{target} is not a regular file (a device, pipe or socket); llmxl writes only files")
    check_overwrite(target, force=force)
    return target


def distinct_outputs(paths: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Refuse, before anything is written, two outputs of one run that are the same file."""
    seen: dict[str, str] = {}
    for flag, p in paths:
        if not p or p == "-":
            continue
        key = os.path.realpath(p)
        if key in seen:
            raise OutputPathError(f"{seen[key]} and {flag} name the same file {str(p)!r}; give each its own path")
        seen[key] = flag


def check_suffix(path: str | os.PathLike[str] | None, flag: str, suffixes: tuple[str, ...]) -> None:
    """Refuse an output whose extension says another format (``-o out.csv`` writes a workbook)."""
    if not path or path == "-":
        return
    if Path(path).suffix.lower() not in suffixes:
        raise OutputPathError(
            f"{flag} {str(path)!r} writes {suffixes[0].lstrip('.').upper()}; give a path ending in {suffixes[0]}"
        )


def lock_folder() -> Path:
    """The folder of llmxl's lock files: ``$TMPDIR/llmxl-locks-$UID``, private to this user (mode 0700).

    Created when missing; refused (OutputPathError) when it is a link or not a folder, is owned by someone
    else, or others may write in it: whoever can write there could plant a link that a lock would follow.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"llmxl-locks-{uid}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise OutputPathError(f"cannot create the lock folder {str(folder)!r}: {exc.strerror or exc}") from None
    st = os.lstat(folder)
    fix = f"remove it (rm -r {folder}) so llmxl makes a private one, or set TMPDIR to a folder of your own"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"the lock folder {str(folder)!r} is not a folder (a link or a file); {fix}")
    if st.st_uid != uid:
        raise OutputPathError(f"the lock folder {str(folder)!r} belongs to another user (uid {st.st_uid}); {fix}")
    if st.st_mode & 0o022:
        raise OutputPathError(
            f"the lock folder {str(folder)!r} may be written by others (mode {stat.S_IMODE(st.st_mode):o}); {fix}"
        )
    return folder


def _open_lock(path: Path) -> int:
    """A lock file's descriptor: created if missing, never truncated, never through a link."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o600)
    except OSError as exc:
        raise OutputPathError(
            f"cannot use the lock file {str(path)!r} ({exc.strerror or exc}); remove it and run again"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputPathError(f"the lock file {str(path)!r} is not a regular file; remove it and run again")
    return fd


@contextlib.contextmanager
def output_lock(paths: Sequence[str | os.PathLike[str] | None]) -> Iterator[None]:
    """Hold a lock per output file for one run, so two runs never interleave their writes.

    The locks live in :func:`lock_folder`; a lock file is opened with O_NOFOLLOW | O_CREAT and never
    truncated, so nothing planted there is followed or emptied.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; atomic renames still never leave half a file
        yield
        return
    wanted = [p for p in paths if p and p != "-"]
    if not wanted:
        yield
        return
    folder = lock_folder()
    keys = sorted({hashlib.sha256(os.fsencode(os.path.realpath(p))).hexdigest()[:32] for p in wanted})
    handles: list[int] = []
    try:
        for key in keys:
            fd = _open_lock(folder / f"{key}.lock")
            handles.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputPathError(
                    "another llmxl run is writing the same output; wait for it to finish or choose another path"
                ) from None
        yield
    finally:
        for fd in handles:
            os.close(fd)


def check_overwrite(path: Path, *, force: bool) -> None:
    """Raise OverwriteRefusedError unless writing ``path`` cannot lose anything (or force)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file() and not path.is_dir()):
        resolve_output(path, force=force)
        return
    if force or not path.exists():
        return
    if path.is_dir():
        raise OverwriteRefusedError(f"{path} is a folder; give a file name such as {path / 'report.xlsx'}")
    if path.suffix.lower() == ".xlsx":
        ok, why = written_by_llmxl_unchanged(path)
        if ok:
            return
    else:
        why = "already exists"
    raise OverwriteRefusedError(f"{path} {why}; refusing to overwrite it: choose another path or add --force")


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link; the link stays
    if not path.parent.is_dir():
        raise OutputPathError(f"folder {str(path.parent)!r} does not exist; create it first or choose another path")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{path} is not a regular file; llmxl writes only files")
    if path.exists():
        mode = path.stat().st_mode & 0o777
    else:  # what open() would give a new file; mkstemp's own 0600 is for its secrecy, not ours
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def check_outputs(flags: list[tuple[str, Any, tuple[str, ...]]], force: bool) -> None:
    """Before any work: formats match extensions, no two outputs are one file, none may be lost.

    "-" is standard output, for one text output (CSV or JSON) at most; a workbook always goes to a file.
    """
    for flag, path, _ in flags:
        if path and path != "-":
            try:
                os.fsencode(path)
                if "\0" in os.fspath(path):
                    raise ValueError
            except (UnicodeEncodeError, ValueError):
                raise OutputPathError(
                    f"{flag} {os.fspath(path)!r} has a character no file name can hold; choose another name"
                ) from None
    dashes = [flag for flag, path, _ in flags if path == "-"]
    for flag, path, suffixes in flags:
        if path == "-" and suffixes == (".xlsx",):
            raise OutputPathError(
                f"{flag} - would write a workbook to the terminal; give a file name such as report.xlsx"
            )
    if len(dashes) > 1:
        raise OutputPathError(f"{' and '.join(dashes)} both name standard output (-); give one of them a file name")
    distinct_outputs([(flag, path) for flag, path, _ in flags])
    for flag, path, suffixes in flags:
        check_suffix(path, flag, suffixes)
    for _, path, _ in flags:
        if path and path != "-":
            resolve_output(path, force=force)


_TRIGGER = None


def safe_csv(value: Any) -> Any:
    """Neutralise text that a spreadsheet would read as a formula (CSV injection).

    A formula trigger (= + - @, or a tab or carriage return) at the start of the text, or after a
    separator (, or ;), a quote or white space, gets a ' before it: opened with either separator, no
    piece of the text starts a formula or a DDE call.
    """
    global _TRIGGER
    if not isinstance(value, str):
        return value
    if _TRIGGER is None:
        import re

        _TRIGGER = re.compile(r"(^|[,;\s\"'])([=+\-@\t\r|])")
    return _TRIGGER.sub(lambda m: m.group(1) + "'" + m.group(2), value)


def csv_text(rows: list[dict[str, Any]], keys: Sequence[str]) -> str:
    """Rows as CSV text, the columns ``keys``, text neutralised (:func:`safe_csv`) and made encodable."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(keys)
    for row in rows:
        w.writerow(["" if row[k] is None else safe_csv(_encodable(row[k])) for k in keys])
    return buf.getvalue()


_SURROGATE = None


def _encodable(value: Any) -> Any:
    """Text that UTF-8 can write: a lone surrogate (a name from a non-UTF-8 file name) becomes U+FFFD."""
    global _SURROGATE
    if isinstance(value, str) and not value.isascii():
        if _SURROGATE is None:
            import re

            _SURROGATE = re.compile("[\ud800-\udfff]")
        return _SURROGATE.sub("\ufffd", value)
    return value


def write_csv(rows: list[dict[str, Any]], path: Path, force: bool, keys: Sequence[str]) -> None:
    """Rows as CSV (:func:`csv_text`), written atomically."""
    check_overwrite(path, force=force)
    atomic_write(path, csv_text(rows, keys).encode("utf-8"))


def json_text(data: Any) -> str:
    """Strict JSON (no NaN or Infinity: a non-finite number is null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), indent=1, allow_nan=False) + "\n"


def write_json(rows: Any, path: Path, force: bool) -> None:
    check_overwrite(path, force=force)
    atomic_write(path, json_text(rows).encode("utf-8"))
