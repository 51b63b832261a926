"""Printing: the OMS's own shipping labels and its print jobs (labels, pick list, packing lists), as PDF.

PdfPrinter implements oms.ports.logistics.Printer. reportlab and pypdf are imported only when something
is printed: a function that never prints does not pay for them at cold start.
"""

from __future__ import annotations

from oms.ports.logistics import LabelSize, OwnLabel, PrintedSheet, PrintSheet


class PdfPrinter:
    """Draws with reportlab (the own label's Code 128 barcodes too) and places pages with pypdf."""

    def own_label(self, label: OwnLabel, size: LabelSize = "a6") -> bytes:
        from oms.printing.own_label import render_own_label

        return render_own_label(label, size)

    def sheet(self, sheet: PrintSheet) -> PrintedSheet:
        from oms.printing.sheets import build_sheet

        return build_sheet(sheet)
