"""The deterministic mode's training rates for `abcrnn bench`, measured beside the fast mode's.

The mode is a property of the process (runtime.pin_kernels: torch's kernels and MKL's code path are
chosen once, at their first use), so its trainers run in a second process, started once: a worker
that builds a `train.Trainer` per setting with `deterministic` on, and trains one turn of the
requested length whenever the benchmark asks. The benchmark's `best_rates` asks it in turn with its
own trainers (`RemoteTrainer`), so both modes are measured side by side, the same turns alternating,
and never at the same time.

    python -m abcrnn.bench.deterministic '{"data_dir": ..., "threads": 2}'

reads one JSON request a line on stdin, {"name": ..., "settings": {...}, "seconds": s, "warmup": n},
and answers {"rate": chars_per_s} (or {"error": message}) a line on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from abcrnn.errors import AbcrnnError
from abcrnn.settings import RunSettings


class Worker:
    """The second process, in the deterministic mode; `close()` ends it."""

    def __init__(self, data_dir, threads: int):
        package_root = Path(__file__).resolve().parents[2]  # this abcrnn first, as in the parent process
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root),
                                                                         os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "abcrnn.bench.deterministic",
                                      json.dumps({"data_dir": str(data_dir), "threads": threads})],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def rate(self, name: str, settings: RunSettings, seconds: float, warmup: int) -> float:
        request = {"name": name, "settings": settings.to_dict(), "seconds": seconds, "warmup": warmup}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AbcrnnError(f"bench: the deterministic-mode worker ended (exit status {self.proc.wait()}); "
                              "its error is above")
        answer = json.loads(line)
        if "error" in answer:
            raise AbcrnnError(f"bench: deterministic mode: {answer['error']}")
        return answer["rate"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class RemoteTrainer:
    """Stands in for a Trainer in `training.best_rates`: its turns are trained by the worker, each for
    `share` of a fast trainer's turn."""

    def __init__(self, worker: Worker, name: str, settings: RunSettings, share: float = 0.5):
        self.worker, self.name, self.share = worker, name, share
        self.s = RunSettings.from_dict({**settings.to_dict(), "deterministic": True})

    def remote_rate(self, seconds: float, warmup: int) -> float:
        return self.worker.rate(self.name, self.s, seconds, warmup)


def serve(config: dict) -> None:
    """The worker's loop (in its own process): the deterministic mode first, then trainers on demand."""
    from abcrnn.runtime import setup_torch

    setup_torch(config["threads"], "cpu", deterministic=True)  # before any tensor operation
    import torch

    from abcrnn.bench.training import log, training_rate
    from abcrnn.data.vocab import Vocab
    from abcrnn.training.train import Trainer, load_split

    data_dir = Path(config["data_dir"])
    vocab = Vocab.load(data_dir / "vocab.json")
    train = load_split(data_dir / "train.pt", len(vocab), "training")
    val = load_split(data_dir / "val.pt", len(vocab), "validation")
    trainers: dict[str, Trainer] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            name = request["name"]
            if name not in trainers:
                settings = RunSettings.from_dict(request["settings"])
                trainers[name] = Trainer(settings, vocab, train, val, torch.device("cpu"), run=f"bench {name}",
                                         log=log)
            answer = {"rate": training_rate(trainers[name], request["seconds"], request["warmup"])}
        except AbcrnnError as exc:
            answer = {"error": str(exc)}
        print(json.dumps(answer), flush=True)


def main() -> int:
    try:
        serve(json.loads(sys.argv[1]))
    except AbcrnnError as exc:
        print(f"abcrnn bench (deterministic-mode worker): error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
