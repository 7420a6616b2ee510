"""PNG charts (matplotlib, imported only when a chart is asked for)."""

from __future__ import annotations

from pathlib import Path


def plot_schedule(days, cfg, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    ax.step([d.day for d in days], [d.cap for d in days], where="post", color="#1f6feb", linewidth=2, label="daily cap")
    ax.set_yscale("log")
    ax.set_xlabel("sending day")
    ax.set_ylabel("recipients per day (log scale)")
    ax.set_title(f"SES dedicated IP warm-up: {cfg.start_per_day:,} -> {cfg.target_per_day:,}/day, x{cfg.multiplier} per step")
    ax.axhline(3000, color="#d29922", linestyle="--", linewidth=1, label="~3,000/day: dedicated IP pays off above")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_simulation(rows, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r["day"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    ax.step(days, [r["cap"] for r in rows], where="mid", color="#1f6feb", linewidth=2, label="daily cap")
    ax.bar(days, [r["sent"] for r in rows], color="#2da44e", alpha=0.7, label="sent (dedicated IP)")
    if any(r.get("overflow") for r in rows):  # stacked on the dedicated IP's: what the overflow route carried
        ax.bar(days, [r.get("overflow", 0) for r in rows], bottom=[r["sent"] for r in rows], color="#8250df", alpha=0.6,
               label="sent (overflow route)")
    ax.plot(days, [r["backlog"] for r in rows], color="#cf222e", linewidth=1.5, label="backlog")
    for r in rows:
        if r["breaker"] != "ok":
            ax.axvline(r["day"], color="#d29922", linestyle=":", linewidth=1)
    ax.set_yscale("log")  # a 50 -> 50,000 ramp and a backlog in the millions share one axis
    ax.set_ylim(bottom=10)
    ax.set_xlabel("day")
    ax.set_ylabel("recipients (log scale)")
    ax.set_title(f"ses-ramp simulate: {title}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
