"""Figures fit the design and the screen: a sampled sweep gets scatter plots, never huge maps."""

import struct
import time

from matplotlib.figure import Figure

from sim.report import MAX_PIXELS, figure_bytes, write_report
from sim.sweep import run_sweep

LATIN_HYPERCUBE = {
    "scenario": {"name": "lhs60", "months": 12, "replicates": 1, "seed": 3},
    "market": {"size": 100},
    "firms": [{"name": "Us", "service_level": "good"}],
    "sweep": {
        "design": "latin_hypercube",
        "samples": 60,
        "referrals.refer_prob": [0.0, 0.4],
        "customers.tolerance": [0.8, 2.0],
    },
}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (IHDR)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_no_png_is_larger_than_a_projector():
    fig = Figure(figsize=(136.0, 80.0))  # what a 60 x 60 map asked for before
    fig.subplots().plot([0, 1], [0, 1])
    width, height = png_size(figure_bytes(fig, "png"))
    assert width <= MAX_PIXELS[0] and height <= MAX_PIXELS[1]
    small = Figure(figsize=(4.0, 3.0))
    assert png_size(figure_bytes(small, "png")) == (600, 450)  # 150 dpi, untouched


def test_a_60_point_latin_hypercube_gets_scatter_plots_of_screen_size(tmp_path):
    result = run_sweep(LATIN_HYPERCUBE, tmp_path / "out", executor="serial")
    started = time.perf_counter()
    written = write_report(result)
    seconds = time.perf_counter() - started
    pngs = {p.stem: png_size(p.read_bytes()) for p in written if p.suffix == ".png"}
    print(f"figures of a 60-point Latin hypercube: {len(pngs)} in {seconds:.1f} s")  # not a test
    assert "scatter_discounted_profit" in pngs
    assert not [name for name in pngs if name.startswith("map_")]
    assert len(pngs) <= 6
    for name, (width, height) in pngs.items():
        assert width <= MAX_PIXELS[0] and height <= MAX_PIXELS[1], (name, width, height)
    report = (tmp_path / "out" / "report.html").stat().st_size
    assert report < 3_000_000, report


def test_no_figures_leaves_the_figures_and_the_report_out(tmp_path, capsys):
    import tomli_w

    from sim.cli import main

    path = tmp_path / "lhs.toml"
    doc = {**LATIN_HYPERCUBE, "sweep": {**LATIN_HYPERCUBE["sweep"], "samples": 3}}
    path.write_bytes(tomli_w.dumps(doc).encode())
    out = tmp_path / "out"
    args = ["sweep", str(path), "--out", str(out), "--executor", "serial", "--quiet"]
    assert main([*args, "--no-figures"]) == 0
    assert not list(out.glob("figures/*")) and not (out / "report.md").exists()
    assert main(["plot", str(out)]) == 0  # drawn later, on demand
    assert (out / "report.md").exists() and list(out.glob("figures/scatter_*.png"))
