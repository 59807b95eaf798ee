"""The on-disk cache, trusted only as far as it can be: a private directory and signed entries.

Every cached file (compiled modules, the parser tables, verification findings) is read through
`read_signed` and written through `write_signed`.  An entry is used only when

- the directory is the user's own and no one else can write to it (created 0700; one that is
  group- or world-writable, or owned by another user, is refused with a warning, and the
  caller works in memory), and
- its first line carries an HMAC-SHA256 of the rest, made with a random key that lives in the
  directory (file `key`, mode 0600, never readable by others).  A file that someone else put
  there (no key, the wrong key) is refused *before* it is executed or parsed, moved aside as
  `<name>.rejected` (the evidence is kept), and the entry is recomputed.

Nothing here unpickles or executes: it hands back bytes the caller has proven it wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

MAGIC = b"# hgl-cache-v1 hmac-sha256 "
_warned: set[str] = set()


def _warn(message: str) -> None:
    if message not in _warned:  # once per process: a batch of loads says it once
        _warned.add(message)
        print(f"hgl: warning: {message}", file=sys.stderr)


def root() -> Path:
    """$HGL_CACHE_DIR, else ~/.cache/hgl (read at each call)."""
    env = os.environ.get("HGL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "hgl"


def _unsafe(st) -> str | None:
    """Why a directory or file with this stat is not private to this user, or None."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    if uid is not None and st.st_uid != uid:
        return f"owned by uid {st.st_uid}, not by you (uid {uid})"
    if st.st_mode & 0o022:
        return f"writable by others (mode {st.st_mode & 0o777:o})"
    return None


def trusted_dir(sub: str = "") -> Path | None:
    """The cache directory (or its `sub` folder), created 0700; None (after a warning) when it cannot be trusted."""
    base = root()
    folder = base / sub if sub else base
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in ([base, folder] if sub else [base]):
            why = _unsafe(d.stat())
            if why:
                _warn(f"cache directory {d} is {why}; not using it (compiling in memory)")
                return None
    except OSError:
        return None  # a read-only home only costs a recompile
    return folder


def _key() -> bytes | None:
    """This user's cache key: 32 random bytes in `<cache>/key`, made on first use."""
    base = trusted_dir()
    if base is None:
        return None
    path = base / "key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    else:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            why = _unsafe(st) or ("readable by others" if st.st_mode & 0o077 else None)
            key = fh.read(64)
    except OSError:
        return None
    if why or len(key) != 32:
        _warn(f"cache key {path} is {why or 'damaged'}; not using the cache (delete the file to make a new one)")
        return None
    return key


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode()


def read_signed(path: Path) -> bytes | None:
    """The payload of a cache entry this user's hgl wrote, or None (absent, untrusted, damaged).

    A present entry whose signature does not verify is moved aside (`.rejected`) with a warning.
    """
    key = _key()
    if key is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError:
        data, st = b"", None
    head, _, payload = data.partition(b"\n")
    why = _unsafe(st) if st is not None else "unreadable"
    if not why and not (head.startswith(MAGIC) and hmac.compare_digest(head[len(MAGIC):], _mac(key, payload))):
        why = "not signed by your hgl (edited, planted, or cut short)"
    if why:
        _warn(f"cache entry {path} is {why}; ignored and kept as {path.name}.rejected")
        try:
            os.replace(path, path.with_name(path.name + ".rejected"))
        except OSError:
            pass
        return None
    return payload


def write_signed(path: Path, payload: bytes) -> bool:
    """Write a signed entry atomically (a temporary file renamed into place); False when not cached."""
    key = _key()
    if key is None or trusted_dir() is None:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + _mac(key, payload) + b"\n" + payload)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
    return True
