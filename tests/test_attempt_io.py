"""Where an attempt's files are written: small ones on the event loop, big ones and the reading of
what backends wrote in a worker thread."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
import threading

import anyio
import anyio.to_thread
import pytest

from engine.core.artifacts import RunFolder, atomic_write
from engine.core.secrets import Redactor
from engine.run import attempts
from engine.run.attempts import small_on_loop


async def test_a_small_write_stays_on_the_loop_and_a_big_one_goes_to_a_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(attempts, "SMALL_WRITE_BYTES", 1000)
    loop_thread = threading.get_ident()
    folder = RunFolder(tmp_path / "runs", "r")
    threads = []

    def write(text: str):
        threads.append(threading.get_ident())
        return folder.write_patch("i-1", 1, text)

    small = "x" * 1000
    path, _, saved = await small_on_loop(len(small), write, small)
    assert saved == small and path.read_text() == small
    big = "y" * 1001
    await small_on_loop(len(big), write, big)
    assert threads[0] == loop_thread and threads[1] != loop_thread
    assert path.read_text() == big


async def test_an_attempt_whose_files_are_all_its_own_redacts_without_a_thread(tmp_path, monkeypatch):
    """foreign_files lists what backends wrote or changed (read in a thread, logs can be big); an
    attempt with only its own files (written redacted) has none, so none is read again."""
    key = "tok-0123456789abcdef0123"
    folder = RunFolder(tmp_path / "runs", "r", redact=Redactor([key]))
    folder.write_patch("i-1", 1, f"+ key = '{key}'\n")
    folder.write_json("i-1", 1, "eval.json", {"detail": f"saw {key}"}, native=True)
    assert folder.foreign_files("i-1", 1) == []
    folder.write_json("i-2", 1, "eval.json", {"resolved": True}, native=True)
    log = folder.attempt_dir("i-2", 1) / "logs" / "test_output.txt"
    log.parent.mkdir()
    log.write_text(f"a backend printed {key}\n")
    assert folder.foreign_files("i-2", 1) == [log]
    await anyio.to_thread.run_sync(folder.redact_files, [log])
    assert key not in log.read_text()


def test_an_attempt_gets_one_folder_and_a_run_begun_before_keeps_its_own(tmp_path):
    """attempts/<instance>.<n>/: one directory per attempt (making directories was the costliest file
    system work of an attempt); an attempt whose folder a run made in the old layout
    (attempts/<instance>/<n>/) goes on using it."""
    folder = RunFolder(tmp_path / "runs", "r")
    made = folder.attempt_dir("astropy__astropy-1", 1)
    assert made == tmp_path / "runs" / "r" / "attempts" / "astropy__astropy-1.1" and made.is_dir()
    assert sorted(p.name for p in (tmp_path / "runs" / "r" / "attempts").iterdir()) == ["astropy__astropy-1.1"]
    legacy = tmp_path / "runs" / "r" / "attempts" / "astropy__astropy-2" / "1"
    legacy.mkdir(parents=True)
    again = RunFolder(tmp_path / "runs", "r")  # the run resumed by a new process
    assert again.attempt_dir("astropy__astropy-2", 1) == legacy
    assert again.attempt_dir("astropy__astropy-2", 2).name == "astropy__astropy-2.2"


def test_an_attempt_folder_is_looked_up_once_and_a_write_makes_it_again_if_it_was_removed(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    folder = RunFolder(tmp_path / "runs", "r")
    made = folder.attempt_dir("i-1", 1)
    checks = []
    monkeypatch.setattr(Path, "is_dir", lambda self: checks.append(self) or True)
    assert folder.attempt_dir("i-1", 1) == made and folder.attempt_dir("i-2", 1).is_dir()  # a new run: no old layout
    assert checks == [folder.attempt_dir("i-2", 1)]  # only the assert's own call looked
    monkeypatch.undo()
    shutil.rmtree(made)
    path, _, _ = folder.write_patch("i-1", 1, "+x\n")
    assert path == made / "patch.diff" and path.read_text() == "+x\n"


def test_what_backends_left_in_an_attempt_folder_is_found_through_links_but_not_into_linked_folders(tmp_path):
    """foreign_files walks the attempt's folder as ``Path.rglob`` did: a link to a file is read (and
    redacted as a file of the attempt), a link to a folder elsewhere is not entered, a broken link and
    the folder's own files are skipped."""
    key = "tok-0123456789abcdef0123"
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "other.log").write_text(f"not this attempt's: {key}\n")
    (outside / "linked.log").write_text(f"linked in: {key}\n")
    folder = RunFolder(tmp_path / "runs", "r", redact=Redactor([key]))
    folder.write_patch("i-1", 1, "+ x = 2\n")
    here = folder.attempt_dir("i-1", 1)
    (here / "logs" / "run").mkdir(parents=True)
    nested = here / "logs" / "run" / "test_output.txt"
    nested.write_text(f"printed {key}\n")
    (here / "linked.log").symlink_to(outside / "linked.log")
    (here / "elsewhere").symlink_to(outside / "deep", target_is_directory=True)
    (here / "broken.log").symlink_to(tmp_path / "missing")
    assert sorted(folder.foreign_files("i-1", 1)) == sorted([nested, here / "linked.log"])
    folder.redact_attempt("i-1", 1)
    assert key not in nested.read_text() and key not in (here / "linked.log").read_text()
    assert key in (outside / "deep" / "other.log").read_text()  # never entered


def test_a_text_that_cannot_be_written_as_utf8_leaves_no_file_behind(tmp_path):
    """atomic_write encodes before it makes the temporary file: a lone surrogate (from a tool's
    undecodable output) fails the write without leaving a half-made file in the attempt's folder."""
    target = tmp_path / "patch.diff"
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "bad \udcff byte")
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, "héllo\n")  # UTF-8, whatever the locale
    assert target.read_bytes() == "héllo\n".encode()


def test_a_write_the_disk_refuses_keeps_the_old_file_and_leaves_no_half_of_the_new(tmp_path):
    """A full disk or a file size limit fails atomic_write: the file keeps what it held, and the
    temporary file is removed (it would otherwise sit in the attempt's folder as a file a backend
    wrote). A real refusal from the kernel: a child process under RLIMIT_FSIZE."""
    target = tmp_path / "eval.json"
    target.write_text("old\n")
    child = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from engine.core.artifacts import atomic_write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
        try:
            atomic_write(Path({str(target)!r}), "x" * 100_000, sync=False)
        except OSError as exc:
            print(exc.errno)
            sys.exit(0)
        sys.exit("the write went through")
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(errno.EFBIG)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]
