"""Verified downloads: fetch a file from the first mirror that serves it intact, and keep it.

One rule makes the cache trustworthy: a file reaches its final name only after its checksum matched.
Bytes arrive in ``<name>.part`` beside it; a transfer that stops early leaves the ``.part`` so the
next attempt asks for the rest with an HTTP ``Range`` request (servers that ignore ranges send the
whole file again, which is also handled); a file whose checksum does not match is deleted and the
next mirror tried. When no mirror delivers, one error lists every URL tried and why it failed.

Only the standard library is used (``urllib``); ``tqdm`` draws a progress bar when it is installed
and standard error is a terminal.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from . import DataError

__all__ = ["DownloadError", "ChecksumError", "default_root", "file_digest", "digest_kind", "check_digest",
           "mirror_url", "fetch_file"]

# Seconds without a byte before an attempt gives up on a server (urllib's socket timeout).
TIMEOUT_SECONDS = 30.0
# How many times one mirror is asked for the rest of a transfer that stopped early, as long as each
# attempt brings new bytes.
MAX_RESUMES = 5
_CHUNK = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGEST_KINDS = {32: "md5", 64: "sha256"}
_USER_AGENT = "tinygrad_cnn (dataset download; https://github.com/)"


class DownloadError(DataError):
    """No mirror delivered a file: the message lists every URL tried, why each failed, and which
    files to put into which folder by hand."""


class ChecksumError(DownloadError):
    """Every mirror served the file, but with other contents than its checksum promises (the message
    names the file, the expected and actual digests, and the URL)."""


def default_root() -> Path:
    """Where datasets are cached: ``$TINYGRAD_CNN_DATA`` if set, else ``~/.cache/tinygrad_cnn/datasets``."""
    override = os.environ.get("TINYGRAD_CNN_DATA")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "tinygrad_cnn" / "datasets"


def digest_kind(hex_digest: str) -> str:
    """'md5' for 32 hex digits, 'sha256' for 64; anything else raises ``ValueError``."""
    if not isinstance(hex_digest, str) or not _HEX.match(hex_digest) or len(hex_digest) not in _DIGEST_KINDS:
        raise ValueError(f"checksum {hex_digest!r} is neither an md5 (32 hex digits) nor a sha256 "
                         "(64 hex digits) digest")
    return _DIGEST_KINDS[len(hex_digest)]


def file_digest(path: Path, kind: str) -> str:
    """The hex digest (``kind`` 'md5' or 'sha256') of the file at ``path``, read in 1 MiB chunks."""
    # usedforsecurity=False: md5 here detects damaged downloads; it is not a security claim, and the
    # flag keeps md5 available on FIPS-restricted Pythons.
    hasher = hashlib.new(kind, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def check_digest(path: Path, expected: str) -> Tuple[bool, str]:
    """(matches, actual hex digest) of ``path`` against ``expected`` (md5 or sha256, by its length)."""
    actual = file_digest(path, digest_kind(expected))
    return actual == expected.lower(), actual


def mirror_url(mirror: str, file_name: str) -> str:
    """The URL of ``file_name`` on ``mirror`` (a base URL; a missing trailing slash is added)."""
    return mirror + file_name if mirror.endswith("/") else f"{mirror}/{file_name}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _progress_bar(total: Optional[int], initial: int, description: str, enabled: Optional[bool]):
    """A tqdm bar on a terminal (or when forced with ``enabled=True``); otherwise None."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=description, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False, dynamic_ncols=True, file=sys.stderr)


def _describe(err: BaseException) -> str:
    """A short reason for a failed request ('HTTP 404 Not Found', 'connection refused', ...)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        if isinstance(reason, socket.timeout):
            return f"no answer within {TIMEOUT_SECONDS:g} s"
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror.lower()
        return str(reason)
    if isinstance(err, socket.timeout):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    return str(err) or type(err).__name__


class _AttemptFailed(Exception):
    """One request that gave nothing usable; the reason goes into the final error."""


def _transfer(url: str, part: Path, progress: Optional[bool]) -> bool:
    """Append the rest of ``url`` to ``part`` (all of it when ``part`` is empty or the server ignores
    ranges). Returns True when the server's announced length arrived (or, with no length announced,
    the stream ended normally); False when the transfer stopped early, leaving ``part`` to resume."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing after `offset`: the .part may already be whole
            err.close()
            return True
        raise _AttemptFailed(_describe(err)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        raise _AttemptFailed(_describe(err)) from None
    with response:
        status = getattr(response, "status", None)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if offset and status == 206:
            content_range = response.headers.get("Content-Range", "")
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range)
            if not match or int(match.group(1)) != offset:
                raise _AttemptFailed(f"asked for bytes from {offset}, got Content-Range {content_range!r}")
        else:
            offset = 0  # a full answer (200, or a file:// URL): start the .part again
        total = offset + length if length is not None else None
        bar = _progress_bar(total, offset, part.name[:-len(".part")], progress)
        received, broke = 0, False
        try:
            with open(part, "ab" if offset else "wb") as f:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException):  # reset, timeout, IncompleteRead
                        broke = True
                        break
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None:
        return offset + received >= total
    if broke and not received:
        raise _AttemptFailed("the connection broke before any data arrived")
    return not broke


def fetch_file(file_name: str, folder: Path, mirrors: Sequence[str], expected: str, *,
               dataset: str = "", progress: Optional[bool] = None,
               say: Callable[[str], None] = _say) -> Path:
    """``folder / file_name``, downloaded from the first of ``mirrors`` that delivers it with digest
    ``expected`` (md5 or sha256 hex). An existing ``.part`` is resumed. Raises ``ChecksumError`` when
    every mirror served other contents, ``DownloadError`` when no mirror delivered (each message lists
    every URL tried and why it failed)."""
    digest_kind(expected)
    label = f"{dataset}: " if dataset else ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return _fetch_from_mirrors(file_name, folder, mirrors, expected, label, progress, say)
    except OSError as err:  # the local disk, not the network (network errors are caught per attempt)
        raise DownloadError(f"{label}cannot write {file_name} into {folder}: {err.strerror or err}") from None


def _fetch_from_mirrors(file_name: str, folder: Path, mirrors: Sequence[str], expected: str, label: str,
                        progress: Optional[bool], say: Callable[[str], None]) -> Path:
    """fetch_file's loop over the mirrors (see there)."""
    final, part = folder / file_name, folder / (file_name + ".part")
    failures: List[Tuple[str, str, bool]] = []  # (url, reason, was a checksum mismatch)
    for index, mirror in enumerate(mirrors):
        url = mirror_url(mirror, file_name)
        resumed_from = part.stat().st_size if part.exists() else 0
        action = f"resuming at byte {resumed_from:,}" if resumed_from else "downloading"
        say(f"{label}{action} {url}")
        retried_fresh, resumes, failure = False, 0, None
        while failure is None:
            size_before = part.stat().st_size if part.exists() else 0
            try:
                complete = _transfer(url, part, progress)
            except _AttemptFailed as err:
                failure = (url, str(err), False)
                break
            if not complete:
                size_now = part.stat().st_size if part.exists() else 0
                resumes += 1
                if resumes > MAX_RESUMES or size_now <= size_before:
                    failure = (url, f"the transfer kept stopping early (last at byte {size_now:,})", False)
                    break
                say(f"{label}the transfer stopped at byte {size_now:,}; asking for the rest")
                continue
            matches, actual = check_digest(part, expected)
            if matches:
                os.replace(part, final)
                say(f"{label}{file_name}: {final.stat().st_size:,} bytes, {digest_kind(expected)} verified")
                return final
            part.unlink()
            if resumed_from and not retried_fresh:
                # The bytes kept from an earlier attempt may be what is wrong: one fresh try.
                retried_fresh, resumed_from = True, 0
                say(f"{label}{file_name}: checksum mismatch after resuming; downloading it again")
                continue
            failure = (url, f"{digest_kind(expected)} checksum mismatch: expected {expected.lower()}, got {actual} "
                            "(the file was deleted)", True)
        failures.append(failure)
        if index + 1 < len(mirrors):
            say(f"{label}{url} failed ({failure[1]}); trying the next mirror")
    if part.exists() and part.stat().st_size == 0:
        part.unlink()  # an answer that broke off before its first byte: nothing worth resuming
    tried = "; ".join(f"{url}: {reason}" for url, reason, _ in failures) or "no mirrors were given"
    if failures and all(mismatch for _, _, mismatch in failures):
        raise ChecksumError(f"{label}{file_name} does not have the expected contents from any mirror: {tried}")
    raise DownloadError(f"{label}could not download {file_name}; tried {tried}")

