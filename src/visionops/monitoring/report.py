"""The monitor's report: PNG plots and one HTML page that loads nothing from elsewhere.

Written to ``data/08_reporting/monitoring/`` by default: ``distributions.png`` (predicted
class shares against the test split's, and each channel's intensities against the
training data's, drawn by data validation's own plot), ``confidence.png`` (mean
confidence per time step), ``recall.png`` (per-class recall on feedback labels, when
there are any), ``monitor.json`` (every figure) and ``index.html``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from visionops.monitoring.figures import live_profile
from visionops.monitoring.layout import write_atomic
from visionops.monitoring.monitor import Monitored
from visionops.validation.drift import plot_distributions

DPI = 100


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI)


def _confidence_plot(figures: dict[str, Any]) -> Figure:
    series = figures["confidence"].get("over_time") or []
    figure = Figure(figsize=(7, 3.5), layout="constrained")
    axes = figure.subplots()
    axes.plot(range(len(series)), [step["mean_confidence"] for step in series], marker="o")
    axes.axhline(figures["confidence"]["min_mean"], color="tab:red", linestyle="--", label="min")
    axes.set_xticks(
        range(len(series)), [step["from"][11:19] for step in series], rotation=45, ha="right"
    )
    axes.set(xlabel="Time step start (UTC)", ylabel="Mean confidence", ylim=(0, 1.02))
    axes.set_title("Confidence over time")
    axes.legend()
    return figure


def _recall_plot(figures: dict[str, Any]) -> Figure:
    recall = figures["accuracy"]["per_class_recall"]
    figure = Figure(figsize=(7, 3.5), layout="constrained")
    axes = figure.subplots()
    axes.bar(list(recall), list(recall.values()))
    axes.set(xlabel="True class", ylabel="Recall", ylim=(0, 1.02))
    axes.set_title(f"Recall on {figures['accuracy']['labels']} feedback labels")
    return figure


def _rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for check in figures["input_drift"]["checks"]:
        value = check.get("distance", check.get("share"))
        rows.append((f"input drift: {check['check']}", f"{value:.3f}", check["status"]))
    classes = figures["class_distribution"]
    if "distance" in classes:
        rows.append(("predicted class shares", f"{classes['distance']:.3f}", classes["status"]))
    confidence = figures["confidence"]
    mean = "-" if confidence["mean"] is None else f"{confidence['mean']:.3f}"
    rows.append(("mean confidence", mean, confidence["status"]))
    accuracy = figures["accuracy"]
    value = "-" if accuracy["accuracy"] is None else f"{accuracy['accuracy']:.3f}"
    rows.append((f"live accuracy ({accuracy['labels']} labels)", value, accuracy["status"]))
    return rows


def _page(figures: dict[str, Any], images: list[str]) -> str:
    escape = html.escape
    alerts = figures["alerts"]
    alert_items = "".join(f"<li>{escape(alert['detail'])}</li>" for alert in alerts)
    table = "".join(
        f'<tr class="{escape(status.replace(" ", "-"))}"><td>{escape(name)}</td>'
        f"<td>{escape(value)}</td><td>{escape(status)}</td></tr>"
        for name, value, status in _rows(figures)
    )
    pictures = "".join(f'<p><img src="{escape(name)}" alt="{escape(name)}"></p>' for name in images)
    window = figures["window"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>visionops monitor: {escape(figures["model"])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; }}
td, th {{ padding: 0.2em 0.8em; text-align: left; }}
tr.alert td {{ color: #b00020; font-weight: bold; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{escape(figures["model"])} version {figures["version"]}</h1>
<p>{figures["images"]} images in {figures["requests"]} requests from
{escape(window["since"])} to {escape(window["until"])}, against {escape(figures["reference"])}.</p>
<h2>{len(alerts)} alert(s)</h2><ul>{alert_items or "<li>none</li>"}</ul>
<table><tr><th>check</th><th>value</th><th>status</th></tr>{table}</table>
{pictures}
</body></html>
"""


def write_report(monitored: Monitored, folder: Path) -> Path:
    """Writes the plots, ``monitor.json`` and ``index.html`` to ``folder``; returns the page."""
    folder.mkdir(parents=True, exist_ok=True)
    figures, reference = monitored.figures, monitored.reference
    images = []
    if reference.profile is not None:
        test = dict(reference.profile)
        if reference.test_class_counts is not None:
            test["class_counts"] = list(reference.test_class_counts)
        _save(
            plot_distributions(live_profile(monitored.counts, test), test),
            folder / "distributions.png",
        )
        images.append("distributions.png")
    if figures["confidence"].get("over_time"):
        _save(_confidence_plot(figures), folder / "confidence.png")
        images.append("confidence.png")
    if figures["accuracy"]["per_class_recall"]:
        _save(_recall_plot(figures), folder / "recall.png")
        images.append("recall.png")
    write_atomic(folder / "monitor.json", json.dumps(figures, indent=2).encode())
    page = folder / "index.html"
    write_atomic(page, _page(figures, images).encode())
    return page
