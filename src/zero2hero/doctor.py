"""What this machine is, and what it means for the course (`z2h doctor`)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from zero2hero.chapters import CHAPTERS


@dataclass
class Diagnosis:
    facts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def diagnose() -> Diagnosis:
    import psutil
    import torch

    from zero2hero.assets import ASSETS, asset_status

    d = Diagnosis()
    d.facts["python"] = platform.python_version()
    d.facts["torch"] = torch.__version__
    d.facts["cpu cores (logical)"] = str(os.cpu_count())
    d.facts["torch threads"] = str(torch.get_num_threads())
    memory = psutil.virtual_memory()
    d.facts["RAM"] = f"{memory.total / 1e9:.1f} GB ({memory.available / 1e9:.1f} GB free)"
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    d.facts["CUDA GPU"] = torch.cuda.get_device_name(0) if cuda else "none"
    d.facts["Apple MPS"] = "available" if mps else "none"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    d.facts["offline mode (HF_HUB_OFFLINE)"] = "on" if offline else "off"
    for name in ASSETS:
        d.facts[f"asset {name}"] = "installed" if asset_status(name)["installed"] else "missing"

    if not cuda:
        d.warnings.append("No CUDA GPU: every lab runs on the CPU. What that means per chapter:")
        d.warnings += [f"  ch{c.number} {c.title}: {c.cpu_note}" for c in CHAPTERS]
    if torch.get_num_threads() < 2:
        d.warnings.append("torch uses one thread: set OMP_NUM_THREADS to your core count for faster labs.")
    if psutil.virtual_memory().total < 8e9:
        d.warnings.append("Less than 8 GB of RAM: full fine-tuning labs (ch5, ch6) may run out of memory.")
    if not offline:
        d.warnings.append("HF_HUB_OFFLINE is not set: the defaults never download, but hub names you pass may.")
    missing = [n for n in ASSETS if not asset_status(n)["installed"]]
    if missing:
        d.warnings.append(f"Missing offline defaults {missing}: run `make setup`.")
    return d
