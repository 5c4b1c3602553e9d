"""Crop matches with a region that differs, and low-information images (issue 14, remaining items).

Libraries are made by each test from real photos of ../shared/eval/dev: crops of them, the same
crops with a watermark, a pasted object or another portrait on one form (synthetic edits of real
photos). The drawings of the low-information test are synthetic on purpose: flat shapes on a white
page (field case B26's kind) are what real photos cannot show."""

import numpy as np
from PIL import Image, ImageDraw
from sqlalchemy import select

from lumina.analysis.duplicates import (CROP_LOCAL_MAD, DERIVATIVE_MAD, compare_pixels, crop_limit_mad,
                                        load_signature_array)
from lumina.catalog.db import open_catalog
from lumina.catalog.models import FileInstance
from lumina.pipeline.duplicates_run import duplicates_report
from lumina.pipeline.scan import scan

ORIGINALS = "originals"


def scanned(tmp_path, lib):
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    with cat.session() as s:
        doc = duplicates_report(s)
    return cat, doc


def names(group) -> list[str]:
    return sorted(m["paths"][0].rsplit("/", 1)[1] for m in group["members"])


def pixels(cat, a, b, gap_s=None) -> dict:
    """The detection's own pixel comparison of two scanned files (their stored signatures)."""
    with cat.session() as s:
        ids = dict(s.execute(select(FileInstance.path, FileInstance.asset_id)).all())
        sa, sb = load_signature_array(s, [ids[str(a)], ids[str(b)]])
    return compare_pixels(sa, sb, crop_limit_mad=crop_limit_mad(gap_s))


def crop(im, pct_x, pct_y):
    dx, dy = im.width * pct_x // 100, im.height * pct_y // 100
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def test_a_crop_whose_small_region_differs_is_not_a_duplicate(tmp_path, eval_dev, settle_now):
    """Three real photos, each beside one crop of it (5 % and 7 % a side: sides cut unevenly, as
    eval/dev's crops are): a plain crop, a crop with a watermark, a crop with an object pasted in
    (another real photo, 1/7 of each side); and a form with portrait A beside a crop of the form
    with portrait B. Each edited crop passes CROP_MAD and the scale against its photo; only the
    plain crop joins its photo's group."""
    lib = tmp_path / "lib"
    lib.mkdir()
    o = eval_dev / ORIGINALS
    photos = {}
    for name in ("Kodak DC3400.jpg", "Nikon E990.jpg", "DSCN0010.jpg", "Canon EOS 7D.jpg"):
        with Image.open(o / name) as im:
            photos[name] = im.convert("RGB")
    for name in ("Kodak DC3400.jpg", "Nikon E990.jpg", "DSCN0010.jpg"):
        photos[name].save(lib / name, quality=92)
    crop(photos["Kodak DC3400.jpg"], 5, 7).save(lib / "crop.jpg", quality=88)
    marked = crop(photos["Nikon E990.jpg"], 5, 7)
    draw = ImageDraw.Draw(marked)
    w, h = marked.size
    draw.rectangle((w * 7 // 10, h * 17 // 20, w * 9 // 10, h * 9 // 10), fill=(255, 255, 255))  # 1 % of the frame
    draw.text((w * 7 // 10 + 4, h * 17 // 20 + 2), "(c) PHOTO", fill=(0, 0, 0))
    marked.save(lib / "crop_watermark.jpg", quality=88)
    added = crop(photos["DSCN0010.jpg"], 5, 7)
    w, h = added.size
    added.paste(photos["Canon EOS 7D.jpg"].resize((w // 7, h // 7)), (w // 3, h // 4))  # 2 % of the frame
    added.save(lib / "crop_object.jpg", quality=88)
    # one form, two people: the page with portrait A, and a 6 % crop of the page with portrait B
    with Image.open(o / "Sony DSC-HX5V (2).jpg") as t, Image.open(o / "DSCN0012.jpg") as a, \
            Image.open(o / "Apple iPhone 4.jpg") as b:
        page = t.convert("RGB").resize((800, 600))
        for portrait, name in ((a, "form_anna.jpg"), (b, "form_ben_crop.jpg")):
            filled = page.copy()
            filled.paste(portrait.convert("RGB").resize((90, 110)), (120, 150))
            (crop(filled, 6, 6) if "crop" in name else filled).save(lib / name, quality=90)
    cat, doc = scanned(tmp_path, lib)
    (group,) = doc["groups"]
    assert names(group) == ["Kodak DC3400.jpg", "crop.jpg"]
    assert "cropped to" in group["reason"]
    plain = pixels(cat, lib / "Kodak DC3400.jpg", lib / "crop.jpg")
    assert plain["crop_local_mad"] <= CROP_LOCAL_MAD - 5, plain  # headroom on the true side
    for photo, edited in (("Nikon E990.jpg", "crop_watermark.jpg"), ("DSCN0010.jpg", "crop_object.jpg"),
                          ("form_anna.jpg", "form_ben_crop.jpg")):
        px = pixels(cat, lib / photo, lib / edited)
        # the crop alone would pass (CROP_MAD, scale): the region that differs keeps it out
        assert px["crop_mad"] is not None and px["crop_scale"] >= 0.84, px
        assert px["crop_local_mad"] >= CROP_LOCAL_MAD + 5, (edited, px)
    derived = {n for d in doc["derivatives"] for n in names(d)}
    assert {"crop_watermark.jpg", "crop_object.jpg", "form_ben_crop.jpg"} <= derived  # reported as edits
    cat.close()


def drawing(path, shape, colour, size=512, text=None):
    """A flat drawing on a white page (synthetic: what B26 holds, in our own variants)."""
    im = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(im)
    box = (size // 4, size // 4, size * 3 // 4, size * 3 // 4)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(size // 2, size // 5), (size // 5, size * 4 // 5), (size * 4 // 5, size * 4 // 5)], fill=colour)
    elif shape == "frame":
        draw.rectangle(box, outline=colour, width=size // 16)
    if text:
        draw.text((size // 10, size // 10), text, fill="black")
    im.save(path)
    return im


def test_flat_drawings_are_no_derivatives_of_each_other_but_their_copies_group(tmp_path, eval_dev, settle_now):
    """Drawings on one white page agree on the page: their whole-image difference (19-25 grey
    levels here, under DERIVATIVE_MAD) is no evidence of an edit. Weighed by the share of pixels that
    show something, they are far apart; a JPEG re-save and a half-size copy of a drawing still group,
    and a real photo's colour edit is still a derivative."""
    lib = tmp_path / "lib"
    lib.mkdir()
    circle = drawing(lib / "red_circle.png", "circle", (220, 30, 30))
    drawing(lib / "blue_square.png", "square", (30, 60, 200))
    drawing(lib / "green_triangle.png", "triangle", (40, 160, 60))
    drawing(lib / "black_frame.png", "frame", (0, 0, 0))
    circle.save(lib / "red_circle_copy.jpg", quality=85)
    circle.resize((256, 256)).save(lib / "red_circle_half.png")
    for name in ("originals/Canon PowerShot G2 (1).jpg", "edited/Canon PowerShot G2 (1)_edit.jpg"):
        (lib / name.rsplit("/", 1)[1]).write_bytes((eval_dev / name).read_bytes())
    cat, doc = scanned(tmp_path, lib)
    assert [names(g) for g in doc["groups"]] == [["red_circle.png", "red_circle_copy.jpg", "red_circle_half.png"]]
    derived = [names(d) for d in doc["derivatives"]]
    assert derived == [["Canon PowerShot G2 (1).jpg", "Canon PowerShot G2 (1)_edit.jpg"]]
    # margins: drawings weighed by what they show sit far above DERIVATIVE_MAD, the real edit below
    shapes = ["red_circle.png", "blue_square.png", "green_triangle.png", "black_frame.png"]
    weighed = []
    for k, a in enumerate(shapes):
        for b in shapes[k + 1:]:
            px = pixels(cat, lib / a, lib / b)
            weighed.append(px["mad"] / px["content_share"])
    assert min(weighed) >= DERIVATIVE_MAD + 15, weighed
    edit = pixels(cat, lib / "Canon PowerShot G2 (1).jpg", lib / "Canon PowerShot G2 (1)_edit.jpg")
    assert edit["mad"] / edit["content_share"] <= DERIVATIVE_MAD - 1, edit
    cat.close()
