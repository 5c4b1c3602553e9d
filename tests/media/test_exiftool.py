import os
import shutil
import time
from pathlib import Path

import pytest

from lumina.errors import ExifToolError
from lumina.media.exiftool import ExifToolSession

pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


TRAP = str(Path(__file__).resolve().parent.parent / "fixtures" / "hang.config")


def test_batch_reads_every_file_with_group_names(corpus):
    paths = [os.fsencode(corpus / p) for p in ("exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/Nikon_D70.jpg")]
    with ExifToolSession() as et:
        docs = et.read(paths)
    assert docs[paths[0]]["EXIF:Make"] == "Canon"
    assert docs[paths[1]]["EXIF:Make"] == "NIKON CORPORATION"
    assert docs[paths[0]]["File:MIMEType"] == "image/jpeg"


def test_a_hung_and_a_crashing_file_cost_one_record_each(corpus, tmp_path):
    """Real ExifTool, with a config whose user-defined tag hangs on 'hang' names and exits on 'crash'."""
    src = corpus / "exif-samples/jpg/Canon_40D.jpg"
    names = ["a.jpg", "hang.jpg", "crash.jpg", "b.jpg"]
    for n in names:
        shutil.copy(src, tmp_path / n)
    paths = [os.fsencode(tmp_path / n) for n in names]
    start = time.monotonic()
    with ExifToolSession(timeout_s=2, config_file=TRAP) as et:
        docs = et.read(paths)
        assert et.restarts >= 2
        after = et.read([paths[0]])  # the session is usable again
    assert time.monotonic() - start < 30
    assert docs[paths[0]]["EXIF:Make"] == "Canon" and docs[paths[3]]["EXIF:Make"] == "Canon"
    assert docs[paths[1]].startswith("exiftool_timeout: ")
    assert docs[paths[2]].startswith("exiftool_error: ")
    assert after[paths[0]]["EXIF:Model"] == "Canon EOS 40D"


def test_missing_file_and_missing_exiftool(tmp_path):
    with ExifToolSession() as et:
        missing = os.fsencode(tmp_path / "nope.jpg")
        assert et.read([missing])[missing].startswith("exiftool_error: ")
    with pytest.raises(ExifToolError, match="libimage-exiftool-perl"):
        ExifToolSession(executable="no-such-exiftool")


def test_names_with_newlines_or_invalid_utf8_are_never_split_or_mismatched(corpus, tmp_path):
    """A newline in a name must not become an ExifTool option (``-Comment=…`` would write files)."""
    canon, nikon = corpus / "exif-samples/jpg/Canon_40D.jpg", corpus / "exif-samples/jpg/Nikon_D70.jpg"
    victim = tmp_path / "victim.jpg"
    shutil.copy(canon, victim)
    evil = os.path.join(os.fsencode(tmp_path), b"m\n-Comment=PWNED\nx.jpg")
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xffname.jpg")
    lookalike = os.fsencode(tmp_path / "bad?name.jpg")
    for target, src in ((evil, nikon), (bad, canon), (lookalike, nikon)):
        with open(target, "wb") as f:
            f.write(src.read_bytes())
    before = victim.read_bytes()
    with ExifToolSession() as et:
        docs = et.read([os.fsencode(victim), evil, bad, lookalike])
    assert victim.read_bytes() == before and sorted(os.listdir(tmp_path)) == sorted(
        ["victim.jpg", os.fsdecode(b"m\n-Comment=PWNED\nx.jpg"), os.fsdecode(b"bad\xffname.jpg"), "bad?name.jpg"])
    assert "EXIF:Comment" not in docs[os.fsencode(victim)]
    assert docs[evil]["EXIF:Model"] == "NIKON D70"
    assert docs[bad]["EXIF:Model"] == "Canon EOS 40D" and docs[lookalike]["EXIF:Model"] == "NIKON D70"
