"""sim/report.py and `retention-sim plot DIR`: figures, report.md and report.html into a folder."""

import json
import re

import pandas as pd
import pytest
from test_plots import RUNG, sweep_frame, sweep_manifest

import sim.report
from sim.cli import PLOT_METRICS, main
from sim.formatting import money
from sim.report import (
    Code,
    FigureBlock,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
    write_report,
)
from sim.summary import outcome_names

FAILED = "p0001-r002"


@pytest.fixture(autouse=True)
def small_images(monkeypatch):
    monkeypatch.setattr(sim.report, "DPI", 40)  # what is drawn is the same; pixels cost time


def write_folder(path, frame, manifest, failed=()):
    """A results folder as `sim.store` lays it out: manifest, runs table, one part."""
    (path / "timeseries").mkdir(parents=True)
    runs = frame[["run_id", "replicate", "seed", RUNG, "churn.rule"]].drop_duplicates("run_id")
    runs = runs.assign(status="done", error="", duration_s=0.1)
    frame = frame[~frame["run_id"].isin(failed)]
    runs.loc[runs["run_id"].isin(failed), ["status", "error"]] = ["failed", "RuntimeError: boom"]
    manifest = {**manifest, "status": "done_with_failures" if failed else "done"}
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    runs.to_parquet(path / "runs.parquet", index=False)
    frame.to_parquet(path / "timeseries" / "part-00000.parquet", index=False)
    return path


@pytest.fixture(scope="module")
def plotted(tmp_path_factory):
    """One folder with a failed run, plotted once by the CLI (drawing is the slow part)."""
    folder = write_folder(
        tmp_path_factory.mktemp("results") / "tiny", sweep_frame(), sweep_manifest(), [FAILED]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sim.report, "DPI", 40)
        return folder, main(["plot", str(folder)])


def test_the_cli_writes_png_and_svg_figures_and_both_reports(plotted):
    folder, code = plotted
    assert code == 0
    names = {p.stem for p in (folder / "figures").iterdir()}
    assert names == {
        "retention",
        "revenue_and_profit",
        "ladder",
        "flows",
        "map_discounted_profit__firms_0_service_level__churn_rule",
    }
    for name in names:
        assert (folder / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (folder / "figures" / f"{name}.svg").read_bytes()[:1000]
    assert (folder / "report.md").is_file() and (folder / "report.html").is_file()


def test_report_md_has_the_table_in_ladder_order_and_links_every_figure(plotted):
    folder, _ = plotted
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# tiny: results")
    header = next(line for line in text.splitlines() if line.startswith("| service level |"))
    for column in ("customers at month 6", "retention after 12 months", "after 60 months"):
        assert column in header
    assert "CLV per initial customer" in header and "break-even month (against Poor)" in header
    rows = [
        line for line in text.splitlines() if re.match(r"\| (\*\*)?(Poor|Good|Excellent)", line)
    ]
    assert [re.search(r"Poor|Good|Excellent", r).group(0) for r in rows] == [
        "Poor",
        "Good",
        "Excellent",
    ]
    assert rows[0].endswith("| reference |") and rows[1].endswith("| 3 |")
    assert "**Excellent** (best)" in rows[2]
    # points are numbered good/fixed, good/tarp, poor/fixed, ...: Good lost one run of six;
    # the CLV of Good is 30 * the sum of 0.7 ** t over t = 1..6 in every run
    assert "| Poor | 6 |" in rows[0] and "| Good | 5 |" in rows[1]
    assert f"{money(30 * sum(0.7**t for t in range(1, 7)))} ±" in rows[1]
    for figure in (folder / "figures").glob("*.png"):
        assert f"](figures/{figure.name})" in text
        assert f"(figures/{figure.stem}.svg)" in text
    assert "1 of 18 runs failed and is missing" in text
    assert "| p0001-r002 | good | tarp | RuntimeError: boom |" in text
    assert "| churn rule | swept (see the sweep) |" in text


def test_report_html_is_self_contained_with_every_figure_embedded(plotted):
    folder, _ = plotted
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(
        list((folder / "figures").glob("*.png"))
    )
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "<script" not in page
    assert "<th>service level</th>" in page and "<strong>Excellent</strong> (best)" in page


def test_the_cli_says_how_many_runs_are_missing(tmp_path, capsys):
    folder = write_folder(
        tmp_path / "one",
        sweep_frame(rungs=("poor", "good"), rules=("fixed",), replicates=2, months=3),
        sweep_manifest(rungs=("poor", "good"), rules=("fixed",), replicates=2, months=3),
        ["p0001-r001"],
    )
    assert main(["plot", str(folder), "--by", "firm"]) == 0
    err = capsys.readouterr().err
    assert "1 of 4 runs failed and is missing" in err
    assert "fewer than two" not in err
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "| firm |" in text and "averaged over service level (2 values)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "profit"], "--metric: unknown metric 'profit'"),
        (["--by", "churn.rulez"], "--by: 'churn.rulez' is neither 'firm' nor a swept key"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    folder = write_folder(tmp_path / "r", sweep_frame(), sweep_manifest())
    before = sorted(p.name for p in folder.rglob("*"))
    assert main(["plot", str(folder), *args]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in folder.rglob("*")) == before


def test_not_a_results_folder_exits_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "is not a results folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_finished_runs_exits_2(tmp_path, capsys):
    frame = sweep_frame(rungs=("poor",), rules=("fixed",), replicates=1, months=2)
    folder = write_folder(tmp_path / "r", frame, sweep_manifest(), failed=["p0000-r000"])
    (folder / "timeseries" / "part-00000.parquet").unlink()
    assert main(["plot", str(folder)]) == 2
    assert "nothing to plot" in capsys.readouterr().err
    assert not (folder / "report.md").exists()


def test_the_cli_lists_the_metrics_summary_computes():
    assert list(PLOT_METRICS) == outcome_names()


def test_write_report_on_one_point_with_two_firms(tmp_path):
    frames = []
    for name, rung in (("Top", "excellent"), ("Low", "poor")):
        one = sweep_frame(rungs=(rung,), rules=("fixed",), replicates=2, months=4, firm=name)
        frames.append(one.drop(columns=[RUNG, "churn.rule"]).assign(**{"churn.rule": "fixed"}))
    frame = pd.concat(frames).sort_values(["run_id", "step"], kind="stable")
    manifest = sweep_manifest(rungs=("excellent",), rules=("fixed",), replicates=2, months=4)
    manifest["scenario"]["firms"] = [
        {"name": "Top", "monthly_fee": 30.0, "service_level": "excellent"},
        {"name": "Low", "monthly_fee": 30.0, "service_level": "poor"},
    ]
    manifest["scenario"].pop("sweep")
    manifest["swept_keys"] = ["churn.rule"]
    folder = tmp_path / "r"
    (folder / "timeseries").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    frame.to_parquet(folder / "timeseries" / "part-00000.parquet", index=False)
    runs = frame[["run_id"]].drop_duplicates().assign(status="done")
    runs.to_parquet(folder / "runs.parquet", index=False)
    written = write_report(folder)
    assert [p.name for p in written][-2:] == ["report.md", "report.html"]
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "One parameter point (`churn.rule` = fixed) × 2 replicates; no sweep." in text
    rows = [line for line in text.splitlines() if line.startswith(("| Low", "| **Top"))]
    assert len(rows) == 2
    assert rows[0].startswith("| Low (Poor) |") and rows[0].endswith("| reference |")
    assert rows[1].startswith("| **Top (Excellent)** (best) |") and rows[1].endswith("| 3 |")
    assert "figures/customers_and_revenue.png" in text


def test_markdown_and_html_render_the_same_blocks_safely():
    blocks = [
        Heading("A <title>", 1),
        Paragraph("Some **bold** and `code` | bar"),
        Table(("a|b", "n"), (("x", "1"),), frozenset({1})),
        FigureBlock("fig", "Fig title", "Caption <i>"),
        Code("details", "{<json>}"),
    ]
    md = to_markdown(blocks)
    assert md.startswith("# A <title>\n\nSome **bold** and `code` | bar\n")
    assert "| a\\|b | n |\n| :--- | ---: |\n| x | 1 |" in md
    assert "![Fig title](figures/fig.png)" in md and "[SVG](figures/fig.svg)" in md
    page = to_html(blocks, {"fig": b"\x89PNG"}, "T")
    assert "<h1>A &lt;title&gt;</h1>" in page
    assert "<strong>bold</strong> and <code>code</code>" in page
    assert '<td class="num">1</td>' in page and "Caption &lt;i&gt;" in page
    assert 'src="data:image/png;base64,iVBORw=="' in page and "{&lt;json&gt;}" in page


def _line_figure(slope: float):
    """A small figure with a constrained layout (what `sim.plots` draws)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, slope])
    ax.set_title(f"slope {slope}")
    return fig


def test_figures_drawn_in_a_forked_process_are_those_drawn_here(tmp_path, monkeypatch):
    import os

    pids = tmp_path / "pids"
    pids.mkdir()

    def maker(slope):
        def make():
            (pids / f"{slope}-{os.getpid()}").touch()  # who drew it
            return _line_figure(slope)

        return make

    makers = {f"f{i}": maker(i) for i in range(3)}
    monkeypatch.setattr(sim.report, "_can_fork", lambda: True)  # even on one CPU
    shared, extra = sim.report.draw_figures(makers, tmp_path / "two", lambda: "report")
    alone, _ = sim.report.draw_figures(makers, tmp_path / "one", parallel=False)
    assert extra == "report"
    assert list(shared) == list(alone) == ["f0", "f1", "f2"]
    for name in makers:
        assert shared[name]["png"] == alone[name]["png"]
        assert (tmp_path / "two" / f"{name}.png").read_bytes() == alone[name]["png"]
        assert (tmp_path / "two" / f"{name}.svg").read_bytes() == shared[name]["svg"]
    drawn_by = {p.name.split("-")[1] for p in pids.iterdir() if p.name.startswith("0-")}
    assert drawn_by != {str(os.getpid())}  # the first figure was drawn by the child


def test_a_figure_that_fails_in_the_forked_process_fails_here(tmp_path, monkeypatch):
    def broken():
        raise ValueError("no such series")

    makers = {"broken": broken, "fine": lambda: _line_figure(1.0)}  # the child draws "broken"
    monkeypatch.setattr(sim.report, "_can_fork", lambda: True)
    with pytest.raises(ValueError, match="no such series"):
        sim.report.draw_figures(makers, tmp_path / "figures")


def test_saving_keeps_the_layout_of_the_first_format_and_the_layout_engine(tmp_path):
    drawn = _line_figure(2.0)
    sim.report.figure_bytes(drawn, "png")  # laid out for the PNG only
    saved = _line_figure(2.0)
    engine = saved.get_layout_engine()
    sim.report.save_figures({"line": saved}, tmp_path)  # PNG, then SVG in the PNG's layout
    assert saved.axes[0].get_position().bounds == drawn.axes[0].get_position().bounds
    assert saved.get_layout_engine() is engine
    assert (tmp_path / "line.svg").read_bytes().startswith(b"<?xml")


def test_no_fork_while_another_thread_runs():
    import threading

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not sim.report._can_fork()  # the child would inherit no thread, but its locks
    finally:
        release.set()
        other.join()
