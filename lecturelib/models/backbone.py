"""The course's small CNN, shared by every detector lesson, and its pre-training.

Shape of the network (the names follow the R-CNN / Fast R-CNN papers, in miniature)::

    image crop Float[B, 3, 32, 32]
      features   conv3×3 32, conv3×3 32, max-pool 2, conv3×3 64, conv3×3 64, max-pool 2
                 -> Float[B, 64, 8, 8]        (stride 4: "conv5")
      last_pool  max-pool 2 -> Float[B, 64, 4, 4]   ("pool5"; Fast R-CNN replaces it by RoI pooling)
      fc         flatten, fc6 1024 -> 256, fc7 256 -> 256   ("fc7 features")
      classifier 256 -> K classes

Pre-training (the analogue of ImageNet pre-training): classify warped crops of single shapes
cut from synthetic scenes that are *not* the detection data set (another seed), K = 3 classes.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import CLASSES, SyntheticShapes
from .warp import warp_regions

INPUT_SIZE = 32
FEATURE_STRIDE = 4
PRETRAIN_SEED = 1000   # the pre-training scenes: a seed the detection splits never use


class Backbone(nn.Module):
    def __init__(self, num_classes: int = len(CLASSES) - 1):
        super().__init__()

        def conv(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*conv(3, 32), *conv(32, 32), nn.MaxPool2d(2),
                                      *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2))
        self.last_pool = nn.MaxPool2d(2)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(inplace=True),
                                nn.Linear(256, 256), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(256, num_classes)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """Float[B, 3, 32, 32] -> fc7 features Float[B, 256]."""
        return self.fc(self.last_pool(self.features(crops)))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Float[B, 3, 32, 32] -> class logits Float[B, K]."""
        return self.classifier(self.embed(crops))


def object_crops(num_images: int, seed: int, jitter: float = 0.1,
                 split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Warped crops of every object in ``num_images`` scenes, with their labels 0..K-1.

    Boxes are jittered by ``jitter`` × their size (a classifier should not need a perfect box).
    """
    data = SyntheticShapes(split, num_images=num_images, seed=seed)
    g = torch.Generator().manual_seed(seed)
    crops, labels = [], []
    for i in range(len(data)):
        image, target = data[i]
        boxes = target["boxes"]
        size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
        boxes = boxes + jitter * size * torch.randn(boxes.shape, generator=g)
        boxes = torch.cat([boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])], 1)
        crops.append(warp_regions(image, boxes))
        labels.append(target["labels"] - 1)
    return torch.cat(crops), torch.cat(labels)


def pretrain(num_images: int = 1500, epochs: int = 10, seed: int = 0, batch_size: int = 64,
             lr: float = 2e-3, progress: bool = True) -> tuple[Backbone, dict]:
    """Train :class:`Backbone` to classify shape crops. Deterministic from ``seed``.

    Returns the model and a summary (train / held-out accuracy, seconds)."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    crops, labels = object_crops(num_images, PRETRAIN_SEED + seed)
    held_crops, held_labels = object_crops(200, PRETRAIN_SEED + seed, split="val")
    model = Backbone()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * ((len(crops) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    bar = tqdm(total=steps, desc="pre-training backbone", disable=not progress)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(crops), generator=g)
        for i in range(0, len(crops), batch_size):
            batch = order[i:i + batch_size]
            x = crops[batch]
            flip = torch.rand(len(batch), generator=g) < 0.5      # augmentation: mirror
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = nn.functional.cross_entropy(model(x), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    summary = {"train_accuracy": accuracy(model, crops, labels),
               "heldout_accuracy": accuracy(model, held_crops, held_labels),
               "first_loss": sum(losses[:10]) / len(losses[:10]),
               "last_loss": sum(losses[-10:]) / len(losses[-10:]),
               "seconds": time.perf_counter() - start, "crops": len(crops)}
    return model, summary


@torch.no_grad()
def accuracy(model: nn.Module, crops: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predicted = torch.cat([model(crops[i:i + 512]).argmax(1) for i in range(0, len(crops), 512)])
    return float((predicted == labels).float().mean())
