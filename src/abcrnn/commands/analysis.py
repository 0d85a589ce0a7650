"""`abcrnn activations`: what single neurons learn (workflow/rules/analysis.smk)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from pathlib import Path
from abcrnn.analysis.activations import SIDE
import argparse
from abcrnn.analysis.activations import chosen_runs
from abcrnn.analysis.activations import neuron_rows
from abcrnn.fileio import write_tsv
from abcrnn.report.heatmaps import plot_heatmap


def main_activations(argv=None) -> int:
    from abcrnn.runtime import setup_torch

    p = argparse.ArgumentParser(prog="abcrnn activations",
                                description="Heatmaps of the neurons that tell a tune's header from its music.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="one run's checkpoint: draws the states asked for from it")
    src.add_argument("--runs", help="test_loss.tsv: the best run's hidden state, the best LSTM run's cell state")
    p.add_argument("--models-dir", default="results/models", help="where --runs finds RUN/best.pt")
    p.add_argument("--checkpoints", nargs="+", help="or the checkpoints --runs chooses from (by folder name)")
    p.add_argument("--length", type=int, default=SIDE * SIDE, help="symbols to generate and show (paper: 400)")
    p.add_argument("--temperature", default="1.0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--hidden-plot", required=True, help="heatmap of the hidden state's best-separating neuron")
    p.add_argument("--cell-plot", help="heatmap of the LSTM cell state's best-separating neuron")
    p.add_argument("--table", required=True, help="neurons.tsv: the best-separating neurons per state")
    a = p.parse_args(argv)
    if a.length < 10:
        raise AbcrnnError(f"--length: must be at least 10, got {a.length}")
    plots = {"hidden": Path(a.hidden_plot), **({"cell": Path(a.cell_plot)} if a.cell_plot else {})}
    chosen = {Path(a.checkpoint): plots} if a.checkpoint else chosen_runs(a.runs, a.models_dir, a.checkpoints, plots)
    from abcrnn.models.checkpoint import read_checkpoint

    # the deterministic mode when the runs were trained in it (train.deterministic: all runs or none)
    deterministic = any(read_checkpoint(path)["settings"].deterministic for path in chosen)
    device = setup_torch(1, a.device, deterministic)
    rows = []
    for path, wanted in chosen.items():
        found, heatmaps = neuron_rows(path, wanted, device, a.seed, a.temperature, a.length)
        rows += found
        for heatmap in heatmaps:
            plot_heatmap(wanted[heatmap.state], heatmap.values, heatmap.pieces, heatmap.title)
    write_tsv(a.table, rows, ["run", "state", "rank", "neuron", "criterion", "score", "mean_header", "mean_music"])
    return 0
