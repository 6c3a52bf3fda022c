"""Reading the small text files a user hands llmxl: config.json, catalog TOML, measurement runs.

Size-capped, regular files only, UTF-8: a pipe, a device or a huge file is refused before anything
blocks or fills memory, with a message that names the file and the fix.
"""

from __future__ import annotations

import os

from .errors import CatalogError

__all__ = ["MAX_INPUT_FILE_BYTES", "read_small_file"]

#: Largest config.json or catalog file llmxl reads (real ones are a few kB).
MAX_INPUT_FILE_BYTES = 4 * 1024**2


def read_small_file(path: str | os.PathLike[str], what: str, fix: str) -> str:
    """The UTF-8 text of a regular file of at most MAX_INPUT_FILE_BYTES, else CatalogError saying why.

    Pipes, devices and folders are refused before they are opened, so nothing blocks or fills memory.
    """
    import stat

    shown = os.fspath(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CatalogError(f"{what} {shown!r} is not a regular file; {fix}")
        if st.st_size > MAX_INPUT_FILE_BYTES:
            raise CatalogError(
                f"{what} {shown!r} is {st.st_size / 1024**2:.1f} MiB, more than the "
                f"{MAX_INPUT_FILE_BYTES // 1024**2} MiB llmxl reads; {fix}"
            )
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_FILE_BYTES + 1)
    except OSError as exc:
        raise CatalogError(f"cannot read {what} {shown!r}: {exc.strerror or exc}; {fix}") from None
    except ValueError:  # a NUL, or a lone surrogate the file system cannot encode: no such path can exist
        raise CatalogError(f"{what} {shown!r} has a character no file name can hold; {fix}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{what} {shown!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
