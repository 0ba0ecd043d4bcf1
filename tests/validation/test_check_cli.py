"""`retention-sim check`: the validation table on the terminal and as Markdown."""

from sim.cli import main
from sim.validation import CASES


def test_check_prints_every_case_and_writes_the_markdown_table(tmp_path, capsys):
    out = tmp_path / "docs" / "validation.md"
    assert main(["check", "--engine", "population", "--quick", "--write-docs", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "engine population:" in printed and "FAIL" not in printed
    text = out.read_text()
    assert text.startswith("# Validation: the model against known answers")
    for case in CASES:
        assert f"| {case} |" in text
    assert text.count("**pass**") == printed.count("  pass") > 20


def test_check_refuses_an_unknown_engine(capsys):
    assert main(["check", "--engine", "turbo"]) == 2
    assert "invalid choice: 'turbo'" in capsys.readouterr().err
