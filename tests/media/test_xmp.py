"""Writing XMP through ExifTool: splicing new values into another program's sidecar keeps every other byte."""

import json
import subprocess

import pytest

from lumina.media.xmp import XmpWriter, splice
from tests.pipeline.test_sidecars import FOREIGN_XMP

pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


HISTORY = FOREIGN_XMP[FOREIGN_XMP.index("   <darktable:history>"):FOREIGN_XMP.index("</darktable:history>") + 20]


def test_splice_replaces_attribute_and_element_forms_only(corpus, tmp_path):
    original = FOREIGN_XMP.replace("   <darktable:history>", "   <dc:subject>\n    <rdf:Bag>\n     <rdf:li>old"
                                   "</rdf:li>\n    </rdf:Bag>\n   </dc:subject>\n   <darktable:history>")
    original = original.replace('xmlns:acme=', 'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:acme=')
    fresh = tmp_path / "fresh.xmp"
    with XmpWriter() as xmp:
        assert xmp.write(str(fresh), {"XMP-xmp:Rating": -1, "XMP-dc:Subject": ["a", "b & c"]}) is None
        new = splice(original, fresh.read_text(encoding="utf-8"), ["XMP-xmp:Rating", "XMP-dc:Subject"])
    assert 'xmp:Rating="2"' not in new and "<rdf:li>old</rdf:li>" not in new
    assert HISTORY in new and 'acme:Note="keep me: &lt;exactly&gt; \u00fc"' in new
    assert new.startswith(original[:original.index(' xmp:Rating="2"')])  # untouched up to the removed attribute
    out = tmp_path / "new.xmp"
    out.write_text(new, encoding="utf-8")
    tags = json.loads(subprocess.run(["exiftool", "-G1", "-n", "-j", "-struct", str(out)], capture_output=True,
                                     text=True, check=True).stdout)[0]
    assert (tags["XMP-xmp:Rating"], tags["XMP-dc:Subject"]) == (-1, ["a", "b & c"])
    assert tags["XMP-acme:Note"] == "keep me: <exactly> \u00fc" and tags["XMP-darktable:Xmp_version"] == 5
    assert splice("not an XMP packet", "", ["XMP-xmp:Rating"]) is None
