#!/usr/bin/python3
"""The peer's model for bench/ort.bench.ts: EncNet+JPU R50 (full width, 59 classes) in plain PyTorch, exported to ONNX.

Builds the network with the parity fixtures' PyTorch model (test/fixtures/parity/make_parity_fixtures.py,
imported, not copied: official module names, so its state dict is the official checkpoint's and fcnc loads it as
it is), randomises its weights from a seed and calibrates the BN statistics to its activations as the fixtures do
(so that activations stay O(1) through the network and the two implementations' logits can be compared), and
writes into OUT (default bench/.peers/enc_jpu_r50_<S>, ignored by git):

  weights.safetensors  the state dict (float32, num_batches_tracked int64): fcnc loads exactly these weights
  input.safetensors    `image`, float32 [1, 3, S, S]
  torch.safetensors    `logits`, `se`, `aux` of that input computed in float64 (the reference for both)
  model.onnx           the eval-mode network, input `image` [1, 3, S, S], outputs `logits`, `se`, `aux`
                       (torch.onnx.export, opset 17, constants folded; the weights are inside the file)

Run: /usr/bin/python3 bench/ort/export_onnx.py [--size S] [--out DIR] [--seed N]   (PyTorch ≥ 1.13; no onnx package)
"""
import argparse
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'test', 'fixtures', 'parity'))
import make_parity_fixtures as pf  # noqa: E402  (the parity fixtures' model, imported unchanged)


class Exported(nn.Module):
    """The network with one input and its three outputs as a tuple (what ONNX export wants)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        out = self.net(image, {})
        return out['logits'], out['se'], out['aux']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--out', default=None)
    ap.add_argument('--seed', type=int, default=10)
    ap.add_argument('--classes', type=int, default=59)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--opset', type=int, default=17)
    a = ap.parse_args()
    out = a.out or os.path.join(ROOT, 'bench', '.peers', 'enc_jpu_r50_%d' % a.size)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    t0 = time.time()
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    model = pf.Net('enc', 'jpu', False, a.width, a.classes)
    pf.randomise(model, gen)
    model.eval()
    image = torch.randn((1, 3, a.size, a.size), generator=gen, dtype=torch.float32)
    pf.calibrate(model, image, gen)
    state = model.state_dict()
    meta = {'variant': 'enc_jpu_r50', 'width': str(a.width), 'classes': str(a.classes), 'size': str(a.size),
            'seed': str(a.seed), 'generator': 'bench/ort/export_onnx.py', 'torch': torch.__version__}
    pf.write_safetensors(os.path.join(out, 'weights.safetensors'), state, meta)
    pf.write_safetensors(os.path.join(out, 'input.safetensors'), {'image': image}, meta)

    # The reference: float64 (every float32 weight and input value converted exactly).
    ref = copy.deepcopy(model).double()
    with torch.no_grad():
        r = ref(image.double(), {})
    pf.write_safetensors(os.path.join(out, 'torch.safetensors'),
                         {k: r[k].float() for k in ('logits', 'se', 'aux')}, meta)
    del ref, r

    onnx_path = os.path.join(out, 'model.onnx')
    with torch.no_grad():
        torch.onnx.export(Exported(model), (image,), onnx_path, input_names=['image'],
                          output_names=['logits', 'se', 'aux'], opset_version=a.opset, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.EVAL)
    info = {'size': a.size, 'width': a.width, 'classes': a.classes, 'seed': a.seed, 'opset': a.opset,
            'torch': torch.__version__, 'onnx_bytes': os.path.getsize(onnx_path),
            'state_dict_entries': len(state), 'seconds': round(time.time() - t0, 1)}
    with open(os.path.join(out, 'export.json'), 'w') as f:
        json.dump(info, f, indent=1)
    print('wrote %s: %s' % (out, json.dumps(info)))


if __name__ == '__main__':
    main()
