"""The `abcrnn` command: one subcommand per pipeline stage, each usable without Snakemake.

Each subcommand NAME is `main_NAME(argv)` in the commands module of its stage (one per rules file of
the workflow), with its own argparse parser; this only dispatches, and turns AbcrnnError into one
clear line on stderr with exit status 1.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "corpus": ("abcrnn.commands.data", "read ABC sources into the <start>/<end> corpus, tune table and report"),
    "split": ("abcrnn.commands.data", "split the corpus into train/val/test by tune"),
    "vocab": ("abcrnn.commands.data", "build the vocabulary from the training split"),
    "encode": ("abcrnn.commands.data", "encode the splits as integer tensors, and write corpus statistics"),
    "train": ("abcrnn.commands.train", "train one model (one grid point)"),
    "evaluate": ("abcrnn.commands.evaluate", "test loss of a trained model"),
    "tables": ("abcrnn.commands.evaluate", "collect run results into test_loss.tsv, best_run.tsv and plots"),
    "bench": ("abcrnn.commands.bench", "benchmark training, evaluation and sampling speed"),
    "sample": ("abcrnn.commands.generate", "generate tunes from a checkpoint"),
    "baseline": ("abcrnn.commands.generate", "choose real test-set tunes to measure beside generated ones"),
    "render": ("abcrnn.commands.generate", "render ABC tunes to MIDI, SVG scores and audio"),
    "validity": ("abcrnn.commands.generate", "validity table and plot of generated tunes per temperature"),
    "quality": ("abcrnn.commands.quality", "musical quality of generated tunes against real ones (quality.tsv, plots)"),
    "gallery": ("abcrnn.commands.quality", "a static HTML gallery of generated tunes: scores, audio, MIDI, metrics"),
    "activations": ("abcrnn.commands.analysis", "heatmaps of neurons that tell a tune's header from its music"),
    "models": ("abcrnn.commands.quality", "model kinds and vocabularies side by side: size, speed, loss, quality"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: abcrnn COMMAND [options]   (abcrnn COMMAND --help for each)", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def first_line(exc: BaseException) -> str:
    """Messages from libraries can run over several lines; users get the first."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    from abcrnn.errors import AbcrnnError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from abcrnn import __version__

        print(f"abcrnn {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"abcrnn: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    entry = getattr(module, f"main_{name}")
    try:
        return entry(rest) or 0
    except AbcrnnError as exc:
        print(f"abcrnn {name}: error: {first_line(exc)}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        print(f"abcrnn {name}: error: a file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 1
    except OSError as exc:  # a missing or unreadable file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"abcrnn {name}: error: {where}{exc.strerror or first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"abcrnn {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
