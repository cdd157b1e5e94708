"""One StarGAN trainer for every dataset module (paper §3–4; defaults are the paper's)."""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image
from tqdm import tqdm

from stylize.models.modelfile import save_model
from stylize.models.stargan import Discriminator, Generator

from .datasets.base import Crops, DatasetSpec, batches, prepare_crops, to_tensor
from .losses import classification_loss, gradient_penalty, random_targets


@dataclass
class TrainConfig:
    image_size: int = 128
    g_conv_dim: int = 64
    d_conv_dim: int = 64
    g_repeat_num: int = 6
    d_repeat_num: int = 6
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    batch_size: int = 16
    num_iters: int = 200_000
    num_iters_decay: int = 100_000
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    n_critic: int = 5
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    sample_every: int = 1000
    checkpoint_every: int = 1000
    log_every: int = 10
    device: str = "auto"
    amp: bool = True
    threads: int = 0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but CUDA is not available here")
    return torch.device(name)


class Trainer:
    """Owns the networks, optimisers and run folder of one training run; resumes from ``run/checkpoint.pt``."""

    def __init__(self, spec: DatasetSpec, run_dir: Path, config: TrainConfig, cache_dir: Path | None = None) -> None:
        self.spec, self.run_dir, self.cfg = spec, Path(run_dir), config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.dist = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank = int(os.environ.get("RANK", "0"))
        if self.dist:
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.device = pick_device(config.device)
        if self.dist and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed + self.rank)
        random.seed(config.seed)
        np.random.seed(config.seed)
        cache = cache_dir or self.run_dir / "cache"
        if self.dist and self.rank != 0:
            torch.distributed.barrier()  # rank 0 fills the crop cache first; the others then read it
        self.train_crops = prepare_crops(spec.train, spec.alignment, config.image_size, cache, "aligning train")
        self.test_crops = prepare_crops(spec.test, spec.alignment, config.image_size, cache, "aligning test")
        if self.dist and self.rank == 0:
            torch.distributed.barrier()
        schema = spec.schema
        self.G = Generator(config.g_conv_dim, schema.c_dim, config.g_repeat_num).to(self.device)
        self.D = Discriminator(config.image_size, config.d_conv_dim, schema.cls_dim, config.d_repeat_num).to(
            self.device)
        if self.device.type == "cuda":
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.g_opt = torch.optim.Adam(self.G.parameters(), config.g_lr, (config.beta1, config.beta2))
        self.d_opt = torch.optim.Adam(self.D.parameters(), config.d_lr, (config.beta1, config.beta2))
        self.g_train, self.d_train = self.G, self.D
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train, self.d_train = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
        self.rng = torch.Generator().manual_seed(config.seed * 1000 + self.rank)
        self.step = 0
        self.elapsed = 0.0
        self.resume()

    # --- checkpoints -------------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def resume(self) -> None:
        """Restores networks, optimisers, step and RNG state if the run folder has a checkpoint."""
        if not self.checkpoint_path.exists():
            (self.run_dir / "config.json").write_text(json.dumps(asdict(self.cfg), indent=2))
            return
        ck = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        self.g_opt.load_state_dict(ck["g_opt"])
        self.d_opt.load_state_dict(ck["d_opt"])
        self.step, self.elapsed = int(ck["step"]), float(ck.get("elapsed", 0.0))
        self.rng.set_state(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        if torch.cuda.is_available() and "cuda_rng" in ck:
            torch.cuda.set_rng_state_all(ck["cuda_rng"])

    def save_checkpoint(self) -> None:
        """Atomic: written to a temporary name and renamed, so a kill mid-write keeps the previous one."""
        if self.rank != 0:
            return
        ck = {"G": self.G.state_dict(), "D": self.D.state_dict(), "g_opt": self.g_opt.state_dict(),
              "d_opt": self.d_opt.state_dict(), "step": self.step, "elapsed": self.elapsed,
              "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            ck["cuda_rng"] = torch.cuda.get_rng_state_all()
        tmp = self.checkpoint_path.with_suffix(".pt.part")
        torch.save(ck, tmp)
        os.replace(tmp, self.checkpoint_path)
        self.export()

    def export(self, path: Path | None = None) -> Path:
        """The run's model file, usable directly by ``stylize video --model``."""
        provenance = {
            "trainer": "stylize-train", "dataset": self.spec.name, "source": self.spec.source,
            "counts": self.spec.counts,
            "train_images": len(self.train_crops.labels), "test_images": len(self.test_crops.labels),
            "skipped": self.train_crops.skipped, "steps": self.step, "train_seconds": round(self.elapsed),
            "recipe": asdict(self.cfg), "device": str(self.device), "torch": torch.__version__,
            "host": platform.machine(), "date": time.strftime("%Y-%m-%d"),
        }
        eval_path = self.run_dir / "eval.json"
        if eval_path.exists():
            result = json.loads(eval_path.read_text())
            if result.get("model_steps") == self.step:  # figures of an older model would misdescribe this one
                provenance["eval"] = result
        return save_model(path or self.run_dir / "model.safetensors", self.G, self.D, self.spec.schema,
                          self.cfg.image_size, self.spec.alignment, provenance)

    # --- training ----------------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> tuple[float, float]:
        """Constant, then linear decay to zero over the last ``num_iters_decay`` iterations (the paper's)."""
        start = self.cfg.num_iters - self.cfg.num_iters_decay
        frac = 1.0 if step < start else max(0.0, 1 - (step - start) / max(1, self.cfg.num_iters_decay))
        return self.cfg.g_lr * frac, self.cfg.d_lr * frac

    def autocast(self):
        enabled = self.cfg.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def train_step(self, x_real: torch.Tensor, label_org: torch.Tensor, set_index: int) -> dict[str, float]:
        cfg, schema = self.cfg, self.spec.schema
        x_real = x_real.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x_real = x_real.contiguous(memory_format=torch.channels_last)
        label_org = label_org.to(self.device)
        label_trg = random_targets(label_org, self.rng).to(self.device)
        c_org, c_trg = label_org, label_trg  # labels are full c vectors: mask already set per label set
        cls_org, cls_trg = label_org[:, :schema.cls_dim], label_trg[:, :schema.cls_dim]
        log: dict[str, float] = {}

        with self.autocast():
            out_src, out_cls = self.d_train(x_real)
            d_real = -out_src.float().mean()
            d_cls = classification_loss(out_cls.float(), cls_org, schema, set_index)
            with torch.no_grad():
                x_fake = self.g_train(x_real, c_trg)
            out_src, _ = self.d_train(x_fake.detach())
            d_fake = out_src.float().mean()
            d_gp = gradient_penalty(self.d_train, x_real, x_fake.detach().to(x_real.dtype))
            d_loss = d_real + d_fake + cfg.lambda_cls * d_cls + cfg.lambda_gp * d_gp
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        log.update(D_real=d_real.item(), D_fake=d_fake.item(), D_cls=d_cls.item(), D_gp=d_gp.item())

        if (self.step + 1) % cfg.n_critic == 0:
            with self.autocast():
                x_fake = self.g_train(x_real, c_trg)
                out_src, out_cls = self.d_train(x_fake)
                g_fake = -out_src.float().mean()
                g_cls = classification_loss(out_cls.float(), cls_trg, schema, set_index)
                x_rec = self.g_train(x_fake, c_org)
                g_rec = (x_real - x_rec).abs().float().mean()
                g_loss = g_fake + cfg.lambda_rec * g_rec + cfg.lambda_cls * g_cls
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            log.update(G_fake=g_fake.item(), G_rec=g_rec.item(), G_cls=g_cls.item())
        return log

    def train(self, until: int | None = None, progress: bool = True) -> None:
        """Trains to step ``until`` (default ``num_iters``). Ctrl-C or a kill signal saves a checkpoint first."""
        cfg = self.cfg
        until = min(until or cfg.num_iters, cfg.num_iters)
        stream = batches(self.train_crops, cfg.batch_size, self.rng, start=self.step)
        log_path = self.run_dir / "losses.csv" if self.rank == 0 else Path(os.devnull)
        fields = ["step", "seconds", "g_lr", "D_real", "D_fake", "D_cls", "D_gp", "G_fake", "G_rec", "G_cls"]
        new_log = self.rank == 0 and not log_path.exists()
        writer_tb = self.tensorboard()
        bar = tqdm(total=until, initial=self.step, desc="training", unit="it", disable=not progress or self.rank)
        last_g: dict[str, float] = {}
        restore = None
        if threading.current_thread() is threading.main_thread():
            restore = signal.signal(signal.SIGTERM, _raise_interrupt)  # a kill saves a checkpoint like Ctrl-C
        try:
            with open(log_path, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                if new_log:
                    writer.writeheader()
                while self.step < until:
                    t0 = time.perf_counter()
                    g_lr, d_lr = self.lr_at(self.step)
                    for group in self.g_opt.param_groups:
                        group["lr"] = g_lr
                    for group in self.d_opt.param_groups:
                        group["lr"] = d_lr
                    x, y, set_index = next(stream)
                    log = self.train_step(x, y, set_index)
                    last_g.update({k: v for k, v in log.items() if k.startswith("G_")})
                    self.step += 1
                    self.elapsed += time.perf_counter() - t0
                    bar.update(1)
                    if self.step % cfg.log_every == 0 and self.rank == 0:
                        row = {"step": self.step, "seconds": round(self.elapsed, 1), "g_lr": g_lr, **log, **last_g}
                        writer.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()})
                        f.flush()
                        bar.set_postfix(D_cls=f"{log['D_cls']:.3f}", G_rec=f"{last_g.get('G_rec', 0):.3f}")
                        if writer_tb:
                            for k, v in log.items():
                                writer_tb.add_scalar(k, v, self.step)
                    if self.step % cfg.sample_every == 0:
                        self.sample_grid()
                    if self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            bar.close()
            self.save_checkpoint()
            raise
        finally:
            if restore is not None:
                signal.signal(signal.SIGTERM, restore)
        bar.close()
        self.save_checkpoint()
        self.sample_grid()

    def close(self) -> None:
        """Leaves the process group of a multi-process (torchrun) run."""
        if self.dist and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def tensorboard(self):
        if self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    @torch.no_grad()
    def sample_grid(self, n: int = 8) -> Path | None:
        """PNG grid: each row a held-out image, then that image translated to every value of every group."""
        if self.rank != 0:
            return None
        path = self.run_dir / "samples" / f"{self.step:06d}.png"
        path.parent.mkdir(exist_ok=True)
        save_image(translate_grid(self.G, self.spec.schema, self.test_crops, n, self.device), path)
        return path


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def targets_for_each_value(schema, label: np.ndarray, set_index: int) -> list[np.ndarray]:
    """For one image's label vector: one target per value of every group of its label set, the rest kept."""
    own = schema.decode(label, set_index)
    out = []
    for g in schema.label_sets[set_index].groups:
        for v in g.values:
            out.append(schema.encode({**own, g.name: v}, set_index))
    return out


def translate_grid(G: Generator, schema, crops: Crops, n: int, device: torch.device) -> torch.Tensor:
    """Rows of [input, translations to each value], in [0, 1], stacked vertically."""
    was_training = G.training
    G.eval()
    idx = np.linspace(0, len(crops.labels) - 1, min(n, len(crops.labels))).round().astype(int)
    rows = []
    for i in idx:
        x = to_tensor(crops.images[i:i + 1]).to(device)
        targets = targets_for_each_value(schema, crops.labels[i], int(crops.sets[i]))
        c = torch.from_numpy(np.stack(targets)).to(device)
        fake = G(x.expand(len(targets), -1, -1, -1), c)
        rows.append(torch.cat([x[0], *fake], dim=2))
    G.train(was_training)
    width = max(r.shape[2] for r in rows)  # joint sets: rows of different label sets differ in length
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[2]), value=-1.0) for r in rows]
    return (torch.cat(rows, dim=1) + 1) / 2
