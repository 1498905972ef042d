"""Training throughput (images/s) of the DARTS evaluation network (one SGD step = forward with the
auxiliary head and drop-path, backward, clip, step; the retraining recipe's settings).

    OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --device cpu --C 16 --layers 8 --batch-size 32
    python benchmarks/train_throughput.py --device cuda          # paper size: C=36, 20 cells, batch 96

Random CIFAR-shaped inputs (3x32x32, 10 classes); the first ``--warmup`` steps are not timed.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn import functional as F

from spacenas.nn.darts_net import DARTSNet, count_params
from spacenas.spaces.darts import DARTSSpace
from spacenas.train.loop import count_madds

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--C", type=int, default=36)
    p.add_argument("--layers", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--arch", default=DARTS_V2)
    args = p.parse_args()

    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    net = DARTSNet(DARTSSpace().parse(args.arch), C=args.C, layers=args.layers, image_size=args.image_size,
                   generator=g).to(device)
    net.set_drop_path(0.2, g)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=g).to(device)
    y = torch.randint(0, 10, (args.batch_size,), generator=g).to(device)
    net.train()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync(device)
            t0 = time.perf_counter()
        logits, aux = net.forward_with_aux(x)
        loss = F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
    _sync(device)
    dt = time.perf_counter() - t0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    madds = count_madds(net, (3, args.image_size, args.image_size), device)
    print(f"device {name}; DARTS V2 eval net C={args.C} layers={args.layers}: {count_params(net) / 1e6:.3f}M params, "
          f"{madds / 1e6:.0f}M MAdds/image")
    print(f"batch {args.batch_size}, {args.steps} timed steps: {args.steps * args.batch_size / dt:.1f} images/s "
          f"({dt / args.steps * 1000:.0f} ms/step)")


if __name__ == "__main__":
    main()
