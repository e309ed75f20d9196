#!/usr/bin/python3
"""Training memory of one FastFCN training step in PyTorch on the CPU, for bench/train.bench.ts.

Builds the official-named network of test/fixtures/parity/make_parity_fixtures.py at full width (or --width),
in train mode, runs one step as the official train.py does (forward, CE main + aux·w + SE·0.2 (EncNet),
backward, torch.optim.SGD with momentum 0.9 and weight decay 1e-4) on a random batch, and measures:
  saved    bytes of the tensors autograd saves for the backward (saved_tensors_hooks; each storage once)
  params   bytes of the parameters and buffers
  grads    bytes of the .grad tensors after backward
  momentum bytes of SGD's momentum buffers after the step
  peak_rss the process's peak resident memory growth over the step (ru_maxrss after − before), which also
           holds the allocator's slack and temporary buffers of the CPU kernels
Prints one JSON line.

Usage: /usr/bin/python3 bench/torch/train_memory.py [--variant enc_jpu_r50] [--batch 4] [--size 480] [--width 64]
"""
import argparse
import json
import os
import resource
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'test', 'fixtures', 'parity'))
import make_parity_fixtures as fx  # noqa: E402

AUX_WEIGHT = {'enc': 0.2, 'enc_fpn': 0.2, 'aspp': 0.4, 'psp': 0.4}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--variant', default='enc_jpu_r50')
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--size', type=int, default=480)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--classes', type=int, default=59)
    a = ap.parse_args()
    family = next(f for f in fx.FAMILIES if f[0] == a.variant)
    _, head, upsampler, dilated, _ = family
    torch.manual_seed(1)
    model = fx.Net(head, upsampler, dilated, a.width, a.classes).float().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
    image = torch.randn(a.batch, 3, a.size, a.size)
    labels = torch.randint(-1, a.classes, (a.batch, a.size, a.size))

    storages = {}

    def pack(t):
        try:
            s = t.storage()
            key = (s.data_ptr(), s.size())
            storages[key] = s.size() * s.element_size()
        except Exception:
            pass
        return t

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(image, {})
        loss = F.cross_entropy(out['logits'], labels, ignore_index=-1)
        loss = loss + AUX_WEIGHT[head] * F.cross_entropy(out['aux'], labels, ignore_index=-1)
        if 'se' in out:
            present = torch.zeros(a.batch, a.classes)
            for b in range(a.batch):
                hist = torch.histc(labels[b].float(), bins=a.classes, min=0, max=a.classes - 1)
                present[b] = (hist > 0).float()
            loss = loss + 0.2 * F.binary_cross_entropy(torch.sigmoid(out['se']), present)
    saved = sum(storages.values())
    loss.backward()
    opt.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    params = nbytes(model.parameters()) + nbytes(model.buffers())
    grads = nbytes(p.grad for p in model.parameters() if p.grad is not None)
    momentum = nbytes(s['momentum_buffer'] for s in opt.state.values() if 'momentum_buffer' in s)
    print(json.dumps({
        'variant': a.variant, 'batch': a.batch, 'size': a.size, 'width': a.width, 'classes': a.classes,
        'torch': torch.__version__, 'saved': saved, 'params': params, 'grads': grads, 'momentum': momentum,
        'peak_rss': peak - base_rss, 'loss': float(loss),
    }))


if __name__ == '__main__':
    main()
