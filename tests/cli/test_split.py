"""starlabel split: parts, --overwrite."""

from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.spectra import read_dataset, write_dataset

from ..conftest import gaussian_line_spectra

runner = CliRunner()


def test_split_writes_all_parts_and_replaces_them_only_when_asked(tmp_path):
    write_dataset(gaussian_line_spectra(n=50, n_pixels=32, seed=1), tmp_path / "d.h5")
    args = ["split", str(tmp_path / "d.h5"), "-o", str(tmp_path / "p")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    parts = [read_dataset(tmp_path / f"p-{n}.h5") for n in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [30, 10, 10]
    ids = set().union(*(set(p.ids) for p in parts))
    assert len(ids) == 50
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(app, [*args, "--seed", "3", "--overwrite"]).exit_code == 0
    assert set(read_dataset(tmp_path / "p-test.h5").ids) != set(parts[2].ids)


def test_a_two_part_split_over_a_three_part_one_leaves_no_old_test_part(tmp_path):
    """The earlier split's test stars are among the new training stars: its test
    file (ours) goes with --overwrite; a user's file of that name would stay."""
    write_dataset(gaussian_line_spectra(n=50, n_pixels=32, seed=1), tmp_path / "d.h5")
    args = ["split", str(tmp_path / "d.h5"), "-o", str(tmp_path / "p")]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--fractions", "0.7", "0.3", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "removed" in result.output and "earlier split" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d.h5",
        "p-train.h5",
        "p-valid.h5",
    ]
