"""Training and classification started by ``torchrun``: the process group, which rank does what, and the
collectives the training loops use.

Under ``torchrun --nproc-per-node N -m contrastdm train ...`` every rank reads the same inputs and draws the
same global batches from one shared seed; each rank trains on its slice of every batch
(:func:`shard`) through DistributedDataParallel (NCCL on GPUs, gloo on CPUs), contrastive embeddings are
gathered across ranks so InfoNCE's negatives span every rank, and rank 0 alone reports progress and writes
outputs. A process started without torchrun is world size 1, and every function here is then a no-op.
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# A rank that waits longer than this in a collective gives up, so one failed rank cannot hang the others.
TIMEOUT = datetime.timedelta(minutes=int(os.environ.get("CONTRASTDM_DIST_TIMEOUT_MIN", "30")))


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched() -> bool:
    """True in a process that torchrun started as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Ranks()


def setup(device: torch.device) -> torch.device:
    """Join torchrun's process group once (NCCL for CUDA, gloo otherwise); returns this rank's device.

    Every rank of a job must ask for the same device type. Without torchrun this returns ``device``."""
    if not launched():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT,
                                device_id=device if device.type == "cuda" else None)
    return device


def teardown() -> None:
    """Leave the process group. Modules and autograd graphs that took part in collectives (DDP wrappers, gathered
    embeddings) go first: gloo work they still hold would otherwise be destroyed during interpreter shutdown,
    and the process aborts ("terminate called without an active exception") after its job is done."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier() -> None:
    if current().active:
        dist.barrier()


def shard(items: torch.Tensor) -> torch.Tensor:
    """This rank's equal share of a global batch (indices drawn identically on every rank); the remainder
    of an uneven split is dropped so every rank holds the same number of samples."""
    ranks = current()
    if not ranks.active:
        return items
    size = len(items) // ranks.world_size
    return items[ranks.rank * size:(ranks.rank + 1) * size]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenation of every rank's ``tensor`` (same shape on each), in rank order, with gradients
    flowing back to each rank's own part."""
    if not current().active:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()))


def gather_labels(tensor: torch.Tensor) -> torch.Tensor:
    """:func:`gather` for tensors that need no gradient (labels)."""
    ranks = current()
    if not ranks.active:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(ranks.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` wrapped in DistributedDataParallel when several ranks train, else ``module`` itself.

    On CUDA the batch norms are synchronised across ranks first (SyncBatchNorm needs a GPU); with gloo on
    CPUs each rank normalises its own slice and DDP keeps rank 0's running statistics."""
    if not current().active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DistributedDataParallel(module, device_ids=[device.index])
    return DistributedDataParallel(module)


def same_everywhere(value: float) -> float:
    """Rank 0's value of a decision statistic, so that every rank takes the same branch."""
    ranks = current()
    if not ranks.active:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def broadcast_module(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers into every rank's copy (after a stage each rank ran on its own)."""
    if not current().active:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def broadcast_tensor(tensor: torch.Tensor) -> torch.Tensor:
    if current().active:
        dist.broadcast(tensor, src=0)
    return tensor


def augment_generator(generator: torch.Generator, seed: int) -> torch.Generator:
    """The generator for augmentation noise: the shared one on a single process (so results stay those
    of a run without torchrun), a rank-specific one under torchrun (each rank sees different views)."""
    ranks = current()
    if not ranks.active:
        return generator
    return torch.Generator().manual_seed(int(seed) + 1_000_003 * (ranks.rank + 1))
