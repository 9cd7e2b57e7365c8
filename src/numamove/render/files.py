"""The picture file: which formats a suffix names, and the one write of the user's file.

This is the only module under :mod:`numamove.render` that touches the file
system, and only the picture file the caller names (and a temporary file
beside it): it never reads or writes a kernel interface. The layering test
(tests/unit/test_layout.py) allows I/O here by function name.

Imports the standard library and :mod:`numamove.errors`; Pillow only for types.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import TYPE_CHECKING, Any

from numamove.errors import InvalidInputError, KernelError

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

__all__ = ["PICTURE_FORMATS", "picture_format", "save_picture"]

PICTURE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP",
}
"""The picture file suffixes :func:`~numamove.render.png.render_png` writes, and the Pillow format of each."""


def picture_format(path: str | os.PathLike[str]) -> str:
    """The Pillow format ``path``'s suffix names, once its folder is known to exist.

    Raises InvalidInputError naming the path when the suffix is not one of
    :data:`PICTURE_FORMATS`, the folder does not exist, or the path is a folder.
    """
    text = os.fspath(path)
    if not text:
        raise InvalidInputError("the picture's path is empty: give a file name such as map.png")
    target = os.path.realpath(text)
    if os.path.isdir(target):
        raise InvalidInputError(f"{text}: is a directory")
    suffix = os.path.splitext(text)[1].lower()
    if suffix not in PICTURE_FORMATS:
        raise InvalidInputError(f"{text}: cannot write {suffix or 'a picture without a suffix'}; "
                                f"the picture's suffix must be one of {', '.join(PICTURE_FORMATS)}")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise InvalidInputError(f"{text}: the directory {folder} does not exist")
    return PICTURE_FORMATS[suffix]

def save_picture(picture: PilImage, path: str | os.PathLike[str], file_format: str) -> None:
    """Write to a new file beside ``path``, then rename it over ``path``: no half-written picture."""
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    # Flat colors: fast zlib for PNG; no chroma subsampling in JPEG, so thin stripes keep their colors.
    by_format: dict[str, dict[str, Any]] = {"PNG": {"compress_level": 1}, "WEBP": {"lossless": True},
                                            "JPEG": {"quality": 92, "subsampling": 0}}
    options = by_format.get(file_format, {})
    created = False
    try:
        # 0o666 less the umask, as any new file; mkstemp would make it private (0o600).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        created = True
        with os.fdopen(descriptor, "wb") as file:
            picture.save(file, format=file_format, **options)
        os.replace(temporary, target)
        created = False
    except OSError as error:
        raise KernelError(error.errno or errno.EIO,
                          f"cannot write {os.fspath(path)}: {error.strerror or error}", "") from None
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
