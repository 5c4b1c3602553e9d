import csv

from lumina.media.detect import SNIFF_BYTES, by_content, by_extension, is_sidecar


def manifest(corpus):
    with open(corpus / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_extensions_cover_photo_raw_and_video_formats():
    assert by_extension("IMG_0001.JPG").file_type == "jpeg"
    assert by_extension("a.heic").file_type == "heic"
    assert by_extension("a.CR3").file_type == "raw"
    assert by_extension("a.nef").file_type == "raw"
    assert by_extension("clip.MOV").media_kind == "video"
    assert by_extension("a.jxl").file_type == "jxl"
    assert by_extension("README") is None
    assert by_extension("notes.txt") is None
    assert is_sidecar("a.jpg.xmp") and is_sidecar("a.XMP") and not is_sidecar("a.jpg")


def test_fuzzed_files_without_extension_are_recognised_by_content(corpus):
    rows = [r for r in manifest(corpus) if r["kind"] == "fuzzed"]
    assert len(rows) == 150
    for r in rows:
        head = (corpus / r["relpath"]).read_bytes()[:SNIFF_BYTES]
        # the manifest gives each file's magic; the three with "magic=unknown" are not media at all
        assert (by_content(head) is None) == ("magic=unknown" in r["notes"]), r["relpath"]


def test_real_photos_sniff_to_their_format(corpus):
    def sniff(rel):
        return by_content((corpus / rel).read_bytes()[:SNIFF_BYTES])

    assert sniff("exif-samples/jpg/Canon_40D.jpg").file_type == "jpeg"
    assert sniff("exif-samples/heic/IMG_5195.HEIC").file_type == "heic"
    assert sniff("metadata-extractor/mov/with-gps.mov").media_kind == "video"
    assert sniff("exif-samples/README.rst") is None


def test_content_decides_when_the_extension_lies(corpus_catalog, corpus):
    """Two real .nef files of the corpus that are JPEGs: typed by content, the mismatch recorded."""
    from lumina.catalog.queries import describe
    from lumina.media.detect import MediaType, content_mismatch

    with corpus_catalog.session() as s:
        doc = describe(s, str(corpus / "metadata-extractor/nef/Issue 247-1.nef"))
    assert doc["file_type"] == "jpeg"
    assert doc["files"][0]["warnings"] == ["extension_mismatch: the name says raw, the content is jpeg"]
    # one container family is no mismatch: a CR2 read as TIFF, a .mov sniffed as MP4, a HEIF brand
    assert not content_mismatch(MediaType("photo", "raw", "extension"), MediaType("photo", "tiff", "content"))
    assert not content_mismatch(MediaType("video", "mov", "extension"), MediaType("video", "mp4", "content"))
    assert not content_mismatch(MediaType("photo", "heif", "extension"), MediaType("photo", "heic", "content"))
    assert content_mismatch(MediaType("photo", "heic", "extension"), MediaType("photo", "jpeg", "content"))
