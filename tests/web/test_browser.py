"""The web app in a real browser: Debian's chromium driven by pip's playwright
(headless; never `playwright install`). Skipped, with the reason, without them."""

import shutil
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("plotly")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "browser tests need Debian's chromium (apt install chromium)",
        allow_module_level=True,
    )

from starlabel.spectra import write_dataset  # noqa: E402

from ..conftest import gaussian_line_spectra  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import uvicorn

    from starlabel.web.app import create_app

    root = tmp_path_factory.mktemp("site")
    sp = gaussian_line_spectra(n=40, n_pixels=300, seed=3)
    ivar = sp.ivar.copy()
    ivar[:, 100:120] = 0.0  # a masked stretch
    write_dataset(sp.replace(ivar=ivar), root / "stars.h5")
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "id": sp.ids.tolist(),
            "teff": sp.labels["teff"] + rng.normal(0, 50, 40),
            "teff_err": np.full(40, 50.0),
            "logg": rng.uniform(1, 5, 40),
            "fe_h": sp.labels["fe_h"],
            "mg_fe": rng.uniform(-0.1, 0.4, 40),
            "flag": np.where(np.arange(40) % 5 == 0, 64, 0).astype(np.int64),
        }
    ).replace_schema_metadata({"SLINPUT": "stars.h5"})
    pq.write_table(table, root / "cat.parquet")
    from starlabel.models import CINNConfig, ConditionalINNRegressor
    from starlabel.models.gandalf import GandalfConfig, LatentAutoencoder
    from starlabel.training import TrainConfig

    train = sp.replace(ivar=ivar)
    LatentAutoencoder(
        GandalfConfig(latent=3, encoder=(16,), decoder=(16,), max_epochs=2),
        random_state=0,
    ).fit(train).save(root / "ae")
    ConditionalINNRegressor(
        CINNConfig(
            cond_dims=(8, 8), channels=(4, 4), kernel_size=4, pool=(4, 2),
            stage_hidden=16, dense=(16,), hidden=16,
            train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3, batch_size=32),
        ),
        device="cpu",
    ).fit(train).save(root / "cinn")  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(root), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", table
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_catalogue(browser, url, height):
    """A page on the served catalogue, and the list its JavaScript errors go to."""
    page = browser.new_page(viewport={"width": 1300, "height": height})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/?catalogue=cat.parquet")
    return page, errors


def test_filter_the_catalogue_open_a_star_see_its_spectrum(site, browser, tmp_path):
    url, table = site
    page, errors = open_catalogue(browser, url, height=850)
    page.wait_for_selector("#stars tbody tr")
    assert page.inner_text("#count").startswith("40 of 40")
    page.wait_for_selector("#kiel .main-svg")
    # filter: teff >= 5500 and hide stars unlike the training set
    page.fill('#ranges .rng[data-col="teff"] .lo', "5500")
    page.check("#hide-ood")
    page.click("#filters button[type=submit]")
    teff = np.asarray(table["teff"])
    flag = np.asarray(table["flag"])
    expected = int(((teff >= 5500) & ((flag & 64) == 0)).sum())
    page.wait_for_function(
        f"document.getElementById('count').textContent.startsWith('{expected} of 40')"
    )
    first = page.inner_text("#stars tbody tr:first-child td:first-child")
    page.click("#stars tbody tr:first-child")
    page.wait_for_selector("#spectrum .main-svg .scatterlayer path.js-line")
    paths = page.eval_on_selector_all(
        "#spectrum .scatterlayer .trace:last-child path.js-line",
        "els => els.map(e => e.getAttribute('d'))",
    )
    # the observed spectrum is drawn, in two pieces around the masked stretch
    assert len(paths) == 2 and all(p.count("L") > 20 for p in paths)
    assert first in page.inner_text("#star-title")
    assert "stars.h5" in page.inner_text("#star-note")
    page.screenshot(path=str(tmp_path / "star.png"))
    assert errors == []


def _edited_path(page):
    return page.get_attribute(
        "#model-plot .scatterlayer .trace:nth-child(3) path.js-line", "d"
    )


def test_move_an_editor_slider_and_open_a_posterior(site, browser):
    url, _ = site
    page, errors = open_catalogue(browser, url, height=1400)
    page.wait_for_selector("#stars tbody tr")
    page.click("#stars tbody tr:nth-child(2)")
    page.wait_for_selector("#spectrum .main-svg .scatterlayer path.js-line")
    # the autoencoder's editor: moving the teff slider redraws the edited curve
    page.select_option("#model", "ae")
    page.wait_for_selector('#editor input[data-label="teff"]')
    page.wait_for_selector("#model-plot .scatterlayer .trace:nth-child(3) path.js-line")
    before = _edited_path(page)
    page.locator('#editor input[data-label="teff"]').evaluate(
        "el => { el.value = el.min; el.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_function(
        "before => document.querySelector("
        "'#model-plot .scatterlayer .trace:nth-child(3) path.js-line').getAttribute('d') !== before",
        arg=before,
    )
    assert _edited_path(page) != before
    # the cINN's posterior: a corner plot of draws and the 68 % intervals in words
    page.select_option("#model", "cinn")
    page.click("#draw-posterior")
    page.wait_for_selector("#posterior .scatterlayer .points path")
    assert page.locator("#posterior .scatterlayer .points path").count() > 500
    assert "68 %" in page.inner_text("#model-note")
    assert errors == []
