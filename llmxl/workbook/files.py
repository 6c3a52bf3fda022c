"""Writing files safely: atomically, and never over a file the user may have edited.

llmxl marks its workbooks with two custom document properties: ``llmxl`` (the
version that wrote it) and ``llmxl_fingerprint``, a SHA-256 of every part of the
.xlsx except the properties part itself. A workbook whose parts still match its
fingerprint is one llmxl wrote and nobody has saved since; anything else, a file
llmxl did not write, or one edited since, is refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

from ..errors import LlmxlError

MARK = "llmxl"
FINGERPRINT = "llmxl_fingerprint"
_CUSTOM = "docProps/custom.xml"
_PLACEHOLDER = "0" * 64


class OverwriteRefusedError(LlmxlError):
    """The target exists and llmxl cannot tell that overwriting it loses nothing."""


def _parts_digest(zf: zipfile.ZipFile) -> str:
    h = hashlib.sha256()
    for name in sorted(zf.namelist()):
        if name == _CUSTOM:
            continue
        h.update(name.encode())
        h.update(b"\0")
        h.update(zf.read(name))
    return h.hexdigest()


def stamp(xlsx: bytes) -> bytes:
    """Replace the fingerprint placeholder in a freshly saved workbook with the real digest."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    digest = _parts_digest(src)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == _CUSTOM:
                data = data.replace(_PLACEHOLDER.encode(), digest.encode())
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    return out.getvalue()


def written_by_llmxl_unchanged(path: Path) -> tuple[bool, str]:
    """(True, '') if llmxl wrote ``path`` and its parts are untouched, else (False, why)."""
    try:
        with zipfile.ZipFile(path) as zf:
            if _CUSTOM not in zf.namelist():
                return False, "was not written by llmxl"
            custom = zf.read(_CUSTOM).decode("utf-8", "replace")
            if f'name="{FINGERPRINT}"' not in custom:
                return False, "was not written by llmxl"
            digest = _parts_digest(zf)
    except (zipfile.BadZipFile, OSError, KeyError):
        return False, "is not a workbook written by llmxl"
    if digest not in custom:
        return False, "was written by llmxl but has been changed since"
    return True, ""


def check_overwrite(path: Path, *, force: bool) -> None:
    """Raise OverwriteRefusedError unless writing ``path`` cannot lose anything (or force)."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        mode = path.stat().st_mode & 0o777
    else:  # what open() would give a new file; mkstemp's own 0600 is for its secrecy, not ours
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def save_workbook(wb, path: str | os.PathLike[str], *, force: bool) -> Path:
    """Mark, fingerprint and atomically write an openpyxl workbook."""
    from openpyxl.packaging.custom import StringProperty

    from .._version import __version__

    target = Path(path)
    check_overwrite(target, force=force)
    props = wb.custom_doc_props
    for name in (MARK, FINGERPRINT):
        if name in props.names:
            del props[name]
    props.append(StringProperty(name=MARK, value=__version__))
    props.append(StringProperty(name=FINGERPRINT, value=_PLACEHOLDER))
    wb.properties.creator = f"llmxl {__version__}"
    from openpyxl.writer.excel import ExcelWriter

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).write_data()  # uncompressed: stamp() compresses once
    return atomic_write(target, stamp(buf.getvalue()))
