"""ExifTool, kept running in ``-stay_open`` mode (through PyExifTool), read in batches.

One ``ExifToolSession`` per worker process. ``read()`` sends a batch of files in one request;
if ExifTool hangs past the deadline or dies, the process is killed, restarted and the batch
is retried file by file, so one bad file costs one failure record and nothing else.

Tags come back as ExifTool's JSON with ``-G -n``: keys are ``"Group:Tag"`` with family-0
groups (``"EXIF:DateTimeOriginal"``, ``"Composite:GPSLatitude"``), values unconverted numbers.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import exiftool
import exiftool.exiftool as _pyexiftool

from lumina.errors import ExifToolError, error_text

COMMON_ARGS = ["-G", "-n", "-j", "-api", "LargeFileSupport=1"]
# A second, narrow reading: every date/time tag and Make/Model of every group, named by family-1
# group ("PictureInfo:DateTimeOriginal", "CIFF:Make", "UserData:DateTimeOriginal"), duplicates kept.
# ExifTool appends the common arguments to each request, so the group family is set per process.
GROUPED_COMMON_ARGS = ["-G1", "-a", "-n", "-j", "-api", "LargeFileSupport=1"]
GROUPED_ARGS = ["-time:all", "-Make", "-Model"]


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


_deadline = threading.local()


def _read_until(fd: int, b_endswith: bytes, block_size: int) -> bytes:
    """Replacement for PyExifTool's reader that honours a deadline and stops on EOF.

    PyExifTool 0.5 waits in ``select()`` without a timeout, and loops forever on EOF when
    ExifTool dies; both would hang a scan on one hostile file.
    """
    chunks: list[bytes] = []
    tail = len(b_endswith) + 4
    end = getattr(_deadline, "at", None)
    while not _pyexiftool._get_buffer_end(chunks, tail).strip().endswith(b_endswith):
        wait = None if end is None else max(0.0, end - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise _Timeout()
        chunk = os.read(fd, block_size)
        if not chunk:
            raise _Died()
        chunks.append(chunk)
    return b"".join(chunks)


_pyexiftool._read_fd_endswith = _read_until
_pdeathsig = _pyexiftool._set_pdeathsig


def _own_group_preexec(sig):
    """PyExifTool's pre-exec hook (ExifTool gets ``sig`` when its parent thread dies), plus a
    process group of ExifTool's own: a terminal's Ctrl-C goes to the whole foreground group, and an
    ExifTool killed by it mid-batch would be taken for a file that crashed it. Lumina stops it."""
    inner = _pdeathsig(sig)

    def preexec() -> None:
        os.setpgid(0, 0)
        if inner is not None:
            inner()
    return preexec


_pyexiftool._set_pdeathsig = _own_group_preexec


def _is_safe(path: bytes) -> bool:
    """A name ExifTool can take as one ``-@`` argument line and report back unchanged."""
    if b"\n" in path or b"\r" in path or not path.startswith(b"/"):
        return False
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _safe_names(paths: Sequence[bytes], folder: bytes) -> dict[bytes, bytes]:
    """Symbolic links with plain names for paths ExifTool must not see as they are.

    ExifTool reads its arguments one per line, so a newline in a file name would split it into
    several arguments (``-Comment=…`` among them: an option that writes files), and it reports
    invalid UTF-8 names altered, so results could not be matched back. Such files are passed
    through a link ``<tmp>/<n>.<ext>`` instead.
    """
    aliases = {}
    for i, path in enumerate(paths):
        if not _is_safe(path):
            ext = os.path.splitext(path)[1].decode("ascii", "ignore").strip("\n\r")[:10]
            alias = os.path.join(folder, f"{i}{ext}".encode())
            os.symlink(os.path.abspath(path), alias)
            aliases[path] = alias
    return aliases


TMP_PREFIX = "lumina-exiftool-"  # + pid of the process that made the folder


def remove_stale_folders() -> int:
    """Remove ExifTool alias folders (``<tmp>/lumina-exiftool-<pid>-*``) of processes that are gone
    (killed before they could clean up). Returns how many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        pid = folder.name[len(TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def find_exiftool(executable: str = "exiftool") -> str:
    """Absolute path of the ExifTool executable.

    Raises:
        ExifToolError: if it is not installed.
    """
    found = shutil.which(executable)
    if not found:
        raise ExifToolError(f"exiftool not found ({executable!r}); install libimage-exiftool-perl "
                            "or set LUMINA_EXIFTOOL_PATH")
    return found


class ExifToolSession:
    """A long-lived ExifTool process.

    Args:
        executable: ExifTool command or path.
        timeout_s: longest wait for one request (a batch, or one file on retry), seconds.
        config_file: an ExifTool config file (``-config``), or "" for none.
        common_args: options of every request (``COMMON_ARGS``, or ``GROUPED_COMMON_ARGS``).
    Raises:
        ExifToolError: if ExifTool cannot be started.
    """

    def __init__(self, executable: str = "exiftool", timeout_s: float = 60.0, config_file: str = "",
                 common_args: Sequence[str] = tuple(COMMON_ARGS)):
        self.common_args = list(common_args)
        self.executable = find_exiftool(executable)
        self.timeout_s = timeout_s
        self.config_file = config_file or None
        self.restarts = 0
        self._et: exiftool.ExifTool | None = None

    def _start(self) -> exiftool.ExifTool:
        if self._et is not None and self._et._process.poll() is not None:  # died since the last request
            self.close()
        if self._et is None:
            et = exiftool.ExifTool(executable=self.executable, common_args=self.common_args,
                                   config_file=self.config_file)
            try:
                et.run()
            except (OSError, RuntimeError) as exc:
                raise ExifToolError(f"cannot start {self.executable}: {exc}") from exc
            self._et = et
        return self._et

    def close(self) -> None:
        """Stop the ExifTool process (idempotent) and close its pipes."""
        et, self._et = self._et, None
        if et is None:
            return
        proc = et._process
        with warnings.catch_warnings():  # PyExifTool warns when its process already died: expected here
            warnings.simplefilter("ignore", UserWarning)
            try:
                et.terminate(timeout=2)
            except (OSError, ValueError):
                proc.kill()
                proc.wait()
                et._flag_running_false()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):  # PyExifTool leaves them open
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def __enter__(self) -> ExifToolSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, paths: Sequence[bytes], args: Sequence[str] = ()) -> list[dict]:
        assert all(_is_safe(p) for p in paths), "unsafe names must go through _safe_names"
        et = self._start()
        _deadline.at = time.monotonic() + self.timeout_s
        try:
            raw = et.execute(*args, *paths, raw_bytes=True)
        except (_Timeout, _Died, BrokenPipeError, OSError):
            self.restarts += 1
            self.close()
            raise
        finally:
            _deadline.at = None
        text = raw.decode("utf-8", "surrogateescape").strip()
        return json.loads(text) if text else []

    def read(self, paths: Sequence[bytes], args: Sequence[str] = ()) -> dict[bytes, dict | str]:
        """Read the tags of several files.

        Args:
            paths: file system paths as bytes (``os.fsencode``), any names allowed.
            args: extra ExifTool options for this request, after ``COMMON_ARGS`` (e.g. ``GROUPED_ARGS``).
        Returns:
            For each path, its tag dict, or an error text ``"exiftool_error: …"`` /
            ``"exiftool_timeout: …"`` when ExifTool could not read it.
        """
        with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-") as tmp:
            aliases = _safe_names(paths, os.fsencode(tmp))
            docs = self._read_safe([aliases.get(p, p) for p in paths], args)
        return {p: docs[aliases.get(p, p)] for p in paths}

    def _read_safe(self, paths: Sequence[bytes], args: Sequence[str] = ()) -> dict[bytes, dict | str]:
        try:
            return self._match(paths, self._request(paths, args))
        except (_Timeout, _Died, BrokenPipeError, OSError, ValueError):
            pass
        out: dict[bytes, dict | str] = {}
        for path in paths:  # retry one by one: one bad file costs one failure
            try:
                out.update(self._match([path], self._request([path], args)))
            except _Timeout:
                out[path] = error_text("exiftool_timeout", f"no answer within {self.timeout_s:g} s")
            except (_Died, BrokenPipeError, OSError):
                out[path] = error_text("exiftool_error", "ExifTool exited while reading this file")
            except ValueError as exc:
                out[path] = error_text("exiftool_error", f"unparsable ExifTool output: {exc}")
        return out

    @staticmethod
    def _match(paths: Sequence[bytes], docs: list[dict]) -> dict[bytes, dict | str]:
        by_path = {os.fsencode(d.get("SourceFile", "")): d for d in docs}
        out: dict[bytes, dict | str] = {}
        for path in paths:
            doc = by_path.get(path)
            if doc is None and len(paths) == 1 and len(docs) == 1:
                doc = docs[0]
            out[path] = doc if doc is not None else error_text("exiftool_error", "ExifTool returned nothing for this file")
        return out
