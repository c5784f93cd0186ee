"""Checks on the matplotlib figures the library draws, read from the Figure
objects themselves (not from pixels): capture the figures a module saves, and
check that no text runs off the canvas."""

from __future__ import annotations


def capture_figures(monkeypatch, module) -> list:
    """Keep every Figure that ``module``'s functions save (they still write the PNG)."""
    saved = []
    real_save = module.save_figure

    def keep(fig, path, **kwargs):
        saved.append(fig)
        return real_save(fig, path, **kwargs)

    monkeypatch.setattr(module, "save_figure", keep)
    return saved


def texts_off_the_canvas(fig) -> list[str]:
    """The titles, axis labels and legend entries of ``fig`` whose rendered box
    reaches beyond the figure (at its own resolution): text a reader loses."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)  # the suptitle is one of them
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    width, height = fig.bbox.width, fig.bbox.height
    off = []
    for text in texts:
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            off.append(text.get_text())
    return off
