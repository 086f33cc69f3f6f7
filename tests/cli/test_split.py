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
