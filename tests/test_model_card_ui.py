"""The model card as an operator sees it: the demo runs against a real `mlflow server`, then a
headless Chromium opens the registered version's page in MLflow's own UI (a JavaScript app, so
only a browser renders it) and the rendered page must show the card's gate decision, the table
putting candidate and champion side by side on the same holdout, and the lineage. The screenshot
is kept beside the test's files (and copied to $MLOPS_UI_SCREENSHOTS when set)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from services import MlflowServer, need_tool


class Text(HTMLParser):
    """The page's visible text, and the text of its headings and table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not data.strip() or any(t in ("script", "style") for t in self.stack):
            return
        self.text.append(data.strip())
        if any(t in ("h1", "h2", "h3") for t in self.stack):
            self.headings.append(data.strip())
        if any(t in ("td", "th") for t in self.stack):
            self.cells.append(data.strip())


def browse(url: str, out: Path) -> Text:
    """The DOM Chromium rendered for `url`, after the app had time to load; a screenshot beside it."""
    flags = [need_tool("chromium", shutil.which("chromium-browser")), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--window-size=1400,2400", "--virtual-time-budget=20000",
             f"--user-data-dir={out.parent / 'chromium'}"]
    subprocess.run([*flags, f"--screenshot={out}", url], check=True, capture_output=True, timeout=180)
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=180).stdout
    page = Text()
    page.feed(dom)
    return page


def test_the_model_card_renders_in_the_mlflow_ui(mlflow_service: MlflowServer, subprocess_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    need_tool("chromium", shutil.which("chromium-browser"))
    env = {**subprocess_env, "MLOPS_DEMO_TRACKING_URI": mlflow_service.url}
    demo = subprocess.run([sys.executable, "-m", "mlops", "demo", "--workdir", str(tmp_path / "demo")],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert demo.returncode == 0, demo.stderr[-3000:]
    versions = [int(v) for v in re.findall(r"^retrain as of .*: v(\d+) (?:promoted|rejected)", demo.stdout, flags=re.M)]
    assert len(versions) == 2, demo.stdout  # v1 promoted, then a candidate judged against it

    page = browse(f"{mlflow_service.url}/#/models/churn/versions/{versions[1]}", tmp_path / "model-card.png")
    shown = " ".join(page.text)
    assert any(h.startswith("Gate decision: ") for h in page.headings), page.headings
    assert {"Data lineage", "Training parameters"} <= set(page.headings), page.headings
    assert "on the same holdout" in shown
    # The gate table is a rendered table, not Markdown source: candidate beside the champion.
    assert {"metric", "candidate"} <= set(page.cells) and any(c.startswith("champion") for c in page.cells), page.cells
    assert "| metric |" not in shown
    assert (tmp_path / "model-card.png").stat().st_size > 20_000  # a real page, not a blank one

    model_page = browse(f"{mlflow_service.url}/#/models/churn", tmp_path / "model.png")
    # The registered model's description says which version is production, and why.
    assert f"Production: v{versions[0]}" in " ".join(model_page.text), model_page.text[:80]
    if os.environ.get("MLOPS_UI_SCREENSHOTS"):
        target = Path(os.environ["MLOPS_UI_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for name in ("model-card.png", "model.png"):
            shutil.copy(tmp_path / name, target / name)
