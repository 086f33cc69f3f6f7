import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from starlabel.errors import StarlabelInputError
from starlabel.spectra.io import read_catalogue


def _table():
    return Table(
        {
            "CNAME": ["a", "b", "c"],
            "TEFF": [5000.0, 4500.0, -9999.0],
            "E_TEFF": [50.0, 60.0, 70.0],
            "FEH": [-0.5, 0.1, -1.0],
            "E_FEH": [0.03, 0.04, 0.05],
            "MG1": [7.33, 7.73, 6.83],  # A(Mg)
            "E_MG1": [0.04, 0.03, 0.02],
            "LI1": [1.2, 2.5, 0.8],
            "VRAD": [10.0, -20.0, 5.5],
            "TECH": ["", "WARN", ""],
        }
    )


@pytest.mark.parametrize("ext", ["fits", "csv", "parquet"])
def test_catalogue_formats_and_conversions(tmp_path, ext):
    t = _table()
    path = tmp_path / f"cat.{ext}"
    if ext == "parquet":
        t.to_pandas().to_parquet(path)
    else:
        t.write(path)
    cat = read_catalogue(
        path,
        id_column="CNAME",
        mapping=[
            "TEFF=teff",
            "E_TEFF=teff_err",
            "FEH=fe_h",
            "E_FEH=fe_h_err",
            "MG1=A(Mg)",
            "E_MG1=e_A(Mg)",
            "LI1=A(Li)",
            "VRAD=rv",
            "TECH=flags",
        ],
    )
    assert cat.ids.tolist() == ["a", "b", "c"]
    assert np.isnan(cat.labels["teff"][2])  # -9999 sentinel
    np.testing.assert_allclose(
        cat.labels["mg_fe"], [7.33 - 7.53 + 0.5, 7.73 - 7.53 - 0.1, 6.83 - 7.53 + 1.0]
    )
    np.testing.assert_allclose(
        cat.labels_err["mg_fe"], np.hypot([0.04, 0.03, 0.02], [0.03, 0.04, 0.05])
    )
    np.testing.assert_allclose(cat.labels["a_li"], [1.2, 2.5, 0.8])
    np.testing.assert_allclose(cat.meta["rv"], [10.0, -20.0, 5.5])
    labels, errs, meta, found = cat.take(["b", "zzz"])
    assert found.tolist() == [True, False]
    assert labels["teff"][0] == 4500.0 and np.isnan(labels["teff"][1])
    assert meta["flags"].tolist()[0] == "WARN"


def test_abundance_scales(tmp_path):
    path = tmp_path / "cat.csv"
    _table().write(path)
    base = ["FEH=fe_h", "MG1=A(Mg)"]
    x_h = read_catalogue(path, id_column="CNAME", mapping=base, abundance_scale="x_h")
    np.testing.assert_allclose(x_h.labels["mg_h"], np.array([7.33, 7.73, 6.83]) - 7.53)
    a = read_catalogue(path, id_column="CNAME", mapping=base, abundance_scale="a")
    np.testing.assert_allclose(a.labels["a_mg"], [7.33, 7.73, 6.83])
    # [X/Fe] given directly needs no [Fe/H] to stay [X/Fe]
    df = pd.DataFrame({"ID": ["x"], "MGFE": [0.2]})
    df.to_csv(tmp_path / "xfe.csv", index=False)
    assert (
        read_catalogue(
            tmp_path / "xfe.csv", id_column="ID", mapping=["MGFE=[Mg/Fe]"]
        ).labels["mg_fe"][0]
        == 0.2
    )
    # [Fe/H] from A(Fe)
    df = pd.DataFrame({"ID": ["x"], "FE1": [7.15]})
    df.to_csv(tmp_path / "afe.csv", index=False)
    got = read_catalogue(tmp_path / "afe.csv", id_column="ID", mapping=["FE1=A(Fe)"])
    assert got.labels["fe_h"][0] == pytest.approx(-0.3)


def test_catalogue_bad_input(tmp_path):
    path = tmp_path / "cat.csv"
    _table().write(path)
    with pytest.raises(StarlabelInputError, match=r"cat\.csv: no column 'LOGG'"):
        read_catalogue(path, id_column="CNAME", mapping=["LOGG=logg"])
    with pytest.raises(StarlabelInputError, match="no column 'OBJECT'"):
        read_catalogue(path, id_column="OBJECT", mapping=["TEFF=teff"])
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"ID": ["a", "a", "b"], "T": [1, 2, 3]}).to_csv(dup, index=False)
    with pytest.raises(
        StarlabelInputError, match=r"dup\.csv: duplicated ids in column 'ID': a"
    ):
        read_catalogue(dup, id_column="ID", mapping=["T=teff"])
    with pytest.raises(StarlabelInputError, match="unknown element"):
        read_catalogue(path, id_column="CNAME", mapping=["MG1=A(Xx)"])
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(StarlabelInputError, match="empty file"):
        read_catalogue(empty, id_column="CNAME", mapping=["TEFF=teff"])


def test_truncated_csv_label_catalogue_is_refused_with_the_row(tmp_path):
    path = tmp_path / "cat.csv"
    _table().write(path, format="ascii.csv")
    text = path.read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 6])  # last row cut
    with pytest.raises(StarlabelInputError) as exc:
        read_catalogue(cut, id_column="CNAME", mapping=["TEFF=teff"])
    msg = str(exc.value)
    assert msg.startswith(f"{cut}: star c: row 3 has ") and "\n" not in msg
