"""Process set-up shared by every stage that runs a model: threads, denormals, memory, device, and the
deterministic mode (`pin_kernels`)."""

from __future__ import annotations

import ctypes
import os
import platform

import torch

from abcrnn.errors import AbcrnnError


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed large blocks instead of returning them to the system.

    Every training step allocates tens of megabytes of activations; by default glibc maps each
    such block afresh and the page faults of touching it cost as much as the arithmetic (measured:
    training runs about 1.4x faster with this). Harmless where glibc is absent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


# --- the deterministic mode ------------------------------------------------------------------------
# What the fast kernels vary with, and what pins them (the README's "Deterministic mode"):
# * torch's own vectorised kernels (sigmoid, softmax, sums, Adam, layer norm, attention ...) come in a
#   build per instruction-set level, chosen at the first tensor operation from ATEN_CPU_CAPABILITY or
#   else the CPU: pinned to the AVX2 build, which every x86-64 CPU with AVX2 and FMA runs alike;
# * MKL's matrix products pick a code path per CPU (and per vendor): MKL_CBWR=COMPATIBLE (conditional
#   numerical reproducibility) makes it take one path on every x86 CPU, read at MKL's first call;
# * oneDNN (nn.LSTM's fused kernel, GELU, bf16 products) JIT-compiles for the CPU it finds: turned off;
# * MKL's vector math (torch.tanh, exp, log ... of tensors, and so nn.LSTM/RNN/GRU without oneDNN)
#   has code paths per CPU that CBWR does not cover: the models avoid it in this mode (build_model).
# Threads must be the same number (MKL's and torch's splits of the work depend on it); torch already
# turns MKL's dynamic thread adjustment off (mkl_set_dynamic(0) in set_num_threads).
DETERMINISTIC_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}
MKL_CBWR_COMPATIBLE = 3  # mkl_serv_cbwr_get's value for COMPATIBLE (MKL_CBWR_COMPATIBLE in mkl.h)
MKL_CBWR_NAMES = {0: "not supported", 1: "OFF (MKL chooses by CPU)", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2",
                  8: "SSE4_2", 9: "AVX", 10: "AVX2", 12: "AVX512", 14: "AVX512_E1"}


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((set(line.split(":", 1)[1].split()) for line in fh if line.startswith("flags")), set())
    except OSError:
        return set()


def mkl_cbwr_branch() -> int | None:
    """MKL's conditional-numerical-reproducibility branch (mkl_serv_cbwr_get), None where torch has no MKL.

    Reading it makes MKL read MKL_CBWR, as its first call would."""
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return get(-1) & 0xFFFF  # MKL_CBWR_ALL; the high bits carry STRICT


def pin_kernels() -> None:
    """Enter the deterministic mode: the same kernels, so the same bits, on every x86-64 CPU with AVX2.

    Sets ATEN_CPU_CAPABILITY=avx2 and MKL_CBWR=COMPATIBLE (overriding other values: the mode is what
    they pin) and turns oneDNN off; then checks that they took effect, which they do only if no
    tensor operation (torch) and no matrix product (MKL) has run in this process yet. Raises
    AbcrnnError (one line) where they cannot: not x86-64 with AVX2 and FMA (torch would run AVX2
    code without checking), no MKL in this torch build, or the kernels already chosen."""
    flags, machine = cpu_flags(), platform.machine().lower()
    if machine not in ("x86_64", "amd64") or not {"avx2", "fma"} <= flags:
        raise AbcrnnError(f"--deterministic: needs an x86-64 CPU with AVX2 and FMA; this {machine} CPU "
                          f"({machine_info()['cpu']}) has {'neither' if not flags & {'avx2', 'fma'} else 'not both'}")
    os.environ.update(DETERMINISTIC_ENV)
    torch.backends.mkldnn.enabled = False
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        raise AbcrnnError(f"--deterministic: torch's kernels were already chosen for {capability}, not AVX2: a "
                          "tensor operation ran before the mode was set (set it at the start of the process, or "
                          "export ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE)")
    branch = mkl_cbwr_branch()
    if branch is None:
        raise AbcrnnError(f"--deterministic: this torch build ({torch.__version__}) has no MKL whose reproducible "
                          "branch could be set (libtorch_cpu.so exports no mkl_serv_cbwr_get)")
    if branch != MKL_CBWR_COMPATIBLE:
        raise AbcrnnError(f"--deterministic: MKL's reproducibility branch is {MKL_CBWR_NAMES.get(branch, branch)}, "
                          "not COMPATIBLE: MKL ran before the mode was set (set it at the start of the process, or "
                          "export MKL_CBWR=COMPATIBLE)")


def setup_torch(threads: int, device: str, deterministic: bool = False) -> torch.device:
    """Threads, denormal flushing, memory reuse and determinism; returns the device to use.

    deterministic: the bit-identical mode (pin_kernels), on the CPU; call this before any tensor
    operation of the process."""
    if deterministic:
        if device.startswith("cuda"):
            raise AbcrnnError(f"--deterministic: bit-identical results are a CPU mode; got --device {device}")
        device = "cpu"
        pin_kernels()
    keep_freed_memory()
    # Flush denormals (arithmetic on them can be many times slower) before torch starts its thread
    # pool: new threads inherit the setting from this one.
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AbcrnnError(f"--device {device}: no CUDA device is available (use --device cpu or auto)")
    return torch.device(device)


def machine_info() -> dict[str, str | int]:
    """What timings depend on: the CPU's model name, the instruction-set level torch's kernels use on
    it, torch's thread count and torch's version."""
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": cpu or platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "torch_version": str(torch.__version__)}
