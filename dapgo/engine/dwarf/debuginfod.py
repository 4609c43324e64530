"""A debuginfod client: debug information downloaded by build id (DEBUGINFOD_URLS).

`GET URL/buildid/BUILDID/debuginfo` on each server of $DEBUGINFOD_URLS (space separated),
in order, until one has it. Downloads are cached by build id where elfutils' client keeps
them ($DEBUGINFOD_CACHE_PATH, else $XDG_CACHE_HOME/debuginfod_client, else
~/.cache/debuginfod_client: BUILDID/debuginfo), so either client reuses the other's files.
$DEBUGINFOD_TIMEOUT (seconds, default 90) bounds each connection's silence. Progress is
reported while the body arrives; a server without the file is an answer, not an exception.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 16
Progress = Callable[[str, int, int | None], None]


def server_urls() -> list[str]:
    return [u.rstrip("/") for u in os.environ.get("DEBUGINFOD_URLS", "").split() if u]


def cache_dir() -> Path:
    env = os.environ.get("DEBUGINFOD_CACHE_PATH")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "debuginfod_client"


def _timeout() -> float:
    try:
        return float(os.environ.get("DEBUGINFOD_TIMEOUT", "90"))
    except ValueError:
        return 90.0


def fetch(build_id: str, urls: list[str], progress: Progress | None = None
          ) -> tuple[str | None, str]:
    """(path of the cached debug file, "") or (None, why none of `urls` gave it)."""
    cached = cache_dir() / build_id / "debuginfo"
    if cached.is_file() and cached.stat().st_size > 0:
        return str(cached), ""
    # imported here: urllib brings http, email and ssl (~15 ms), which a debugger that
    # never downloads should not wait for at start-up
    import urllib.error
    import urllib.request

    why = []
    for url in urls:
        full = f"{url}/buildid/{build_id}/debuginfo"
        try:
            with urllib.request.urlopen(full, timeout=_timeout()) as resp:
                total = resp.headers.get("Content-Length")
                size = int(total) if total and total.isdigit() else None
                cached.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".tmp-")
                done = 0
                try:
                    with os.fdopen(fd, "wb") as out:
                        while chunk := resp.read(CHUNK):
                            out.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(f"{url}: build id {build_id}", done, size)
                    os.replace(tmp, cached)
                except BaseException:
                    os.unlink(tmp)
                    raise
                return str(cached), ""
        except urllib.error.HTTPError as exc:
            why.append(f"{url} has no debug info for build id {build_id} (HTTP {exc.code})")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            why.append(f"{url} could not be asked for build id {build_id}: {reason}")
    return None, "debuginfod: " + "; ".join(why)
