"""The one place that sets up matplotlib for the pipeline's plots: a file-only backend (no display is
needed on a cluster node), and a save that writes the same bytes for the same figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from abcrnn.fileio import atomic_path  # noqa: E402

__all__ = ["plt", "save"]


def save(fig, path: str | Path, dpi: int = 120) -> None:
    """Write `fig` as a PNG (atomically) and close it."""
    with atomic_path(path) as tmp:
        # No software/date metadata, so that the same results give the same file.
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
