"""The course's small CNN, shared by every detector lesson, and its pre-training.

Shape of the network (the names follow the R-CNN / Fast R-CNN papers, in miniature)::

    image crop Float[B, 3, 32, 32]
      features   conv3×3 32, conv3×3 32, max-pool 2, conv3×3 64, conv3×3 64, max-pool 2
                 -> Float[B, 64, 8, 8]        ("conv5": out_channels 64, stride 4)
      last_pool  max-pool 2 -> Float[B, 64, 4, 4]   ("pool5", pool5_size 4; Fast R-CNN replaces
                                                   it by RoI pooling to the same size)
      fc6        flatten, 1024 -> 256, ReLU
      fc7        256 -> 256, ReLU                   ("fc7 features", fc7_size 256)
      classifier 256 -> K classes

A detector attaches its heads by these names: ``features`` (with ``out_channels`` and
``stride``) for a shared conv map, :meth:`Backbone.fc7_features` (``fc6``, ``fc7``) on pooled
regions of ``pool5_size`` × ``pool5_size`` cells.

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
    out_channels = 64                    # channels of the conv5 map
    stride = FEATURE_STRIDE              # image pixels per conv5 cell
    pool5_size = INPUT_SIZE // FEATURE_STRIDE // 2   # 4: cells per side after pool5
    fc7_size = 256                       # length of an fc7 feature

    def __init__(self, num_classes: int = len(CLASSES) - 1):
        super().__init__()

        def conv(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*conv(3, 32), *conv(32, 32), nn.MaxPool2d(2),
                                      *conv(32, self.out_channels),
                                      *conv(self.out_channels, self.out_channels), nn.MaxPool2d(2))
        self.last_pool = nn.MaxPool2d(2)
        self.fc6 = nn.Linear(self.out_channels * self.pool5_size ** 2, self.fc7_size)
        self.fc7 = nn.Linear(self.fc7_size, self.fc7_size)
        self.classifier = nn.Linear(self.fc7_size, num_classes)
        self._register_load_state_dict_pre_hook(_rename_fc_keys)

    def fc7_features(self, pool5: torch.Tensor) -> torch.Tensor:
        """pool5 Float[B, 64, 4, 4] (or flattened, Float[B, 1024]) -> fc7 Float[B, 256]."""
        return torch.relu(self.fc7(torch.relu(self.fc6(pool5.flatten(1)))))

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """Float[B, 3, 32, 32] -> fc7 features Float[B, 256]."""
        return self.fc7_features(self.last_pool(self.features(crops)))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Float[B, 3, 32, 32] -> class logits Float[B, K]."""
        return self.classifier(self.embed(crops))


def _rename_fc_keys(state_dict, prefix, *args):
    """Checkpoints written before fc6 / fc7 had names stored them as ``fc.1`` / ``fc.3`` (an
    ``nn.Sequential``); the shipped files are kept byte for byte (their SHA-256 is in the
    manifest), so their keys are renamed as they load."""
    for old, new in (("fc.1.", "fc6."), ("fc.3.", "fc7.")):
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)


def load_backbone() -> "Backbone":
    """The pre-trained backbone from the shipped checkpoint (hash verified), in eval mode."""
    from ..checkpoints import load_weights
    return load_weights("backbone", Backbone())


def load_pretrained(backbone: Backbone) -> Backbone:
    """Copy the shipped pre-trained weights into a detector's own ``backbone``; its classifier
    too where it has the pre-training's K classes (R-CNN's K + 1 way classifier starts anew)."""
    from ..checkpoints import load_checkpoint
    weights = load_checkpoint("backbone")["state_dict"]
    if weights["classifier.weight"].shape == backbone.classifier.weight.shape:
        backbone.load_state_dict(weights)
    else:
        missing = backbone.load_state_dict({k: v for k, v in weights.items()
                                            if not k.startswith("classifier.")},
                                           strict=False).missing_keys
        if any(not k.startswith("classifier.") for k in missing):
            raise RuntimeError(f"the backbone checkpoint lacks {missing}")
    return backbone


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
             lr: float = 2e-3, progress: bool = True,
             heldout_images: int = 200) -> tuple[Backbone, dict]:
    """Train :class:`Backbone` to classify shape crops. Deterministic from ``seed``.

    Returns the model and a summary (train / held-out accuracy on the crops of
    ``heldout_images`` validation scenes, seconds)."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    crops, labels = object_crops(num_images, PRETRAIN_SEED + seed)
    held_crops, held_labels = object_crops(heldout_images, PRETRAIN_SEED + seed, split="val")
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


def evaluate_backbone(model: Backbone, split: str = "test", num_images: int | None = None,
                      progress: bool = True) -> dict:
    """Classification accuracy on the unjittered crops of every object in a split's first
    ``num_images`` scenes (default 128)."""
    num_images = 128 if num_images is None else num_images
    if num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    crops, labels = object_crops(num_images, seed=0, jitter=0.0, split=split)
    return {"split": split, "images": num_images, "accuracy": accuracy(model, crops, labels),
            "crops": len(crops)}


@torch.no_grad()
def accuracy(model: nn.Module, crops: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predicted = torch.cat([model(crops[i:i + 512]).argmax(1) for i in range(0, len(crops), 512)])
    return float((predicted == labels).float().mean())
