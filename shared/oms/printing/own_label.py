"""The OMS's own shipping label, for parcels on the retailer's own courier: one page, A6 or 10 x 15 cm.

Top to bottom: the courier and the COD amount (what the courier collects, in a black box: the one
thing it must not miss), the resi as a Code 128 barcode, the sender, the recipient (larger: the
courier reads it at the door), the order (with its own smaller barcode for the packer's scanner),
then the items as many as fit. Every text is cut to its box, so nothing overflows the page.

Captions are Indonesian, as labels in Indonesia are. The fonts are the PDF standard Helvetica (not
embedded, so a label is a few kilobytes); characters outside it print as a box, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from oms.ports.logistics import LabelParty, LabelSize, OwnLabel

WIB = ZoneInfo("Asia/Jakarta")
LABEL_PAGE_SIZES: dict[str, tuple[float, float]] = {"a6": A6, "10x15": (100 * mm, 150 * mm)}

FONT = "Helvetica"
BOLD = "Helvetica-Bold"
ELLIPSIS = "…"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")

_MARGIN = 4 * mm
_GAP = 4  # points between sections
_RESI_BAR_HEIGHT = 16 * mm
_ORDER_BAR_HEIGHT = 7 * mm
# A bar much wider than this reads no better and looks broken; narrower ones are what long resis get.
_MAX_BAR_WIDTH = 0.6 * mm


# --- Indonesian formats (the sheets use them too)


def rupiah(amount: Decimal) -> str:
    """1250000 -> "1.250.000": whole rupiah, dots between thousands."""
    whole = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}".replace(",", ".")


def wib_date(moment: datetime) -> str:
    """ "08 Des 2026", the WIB day of an aware instant."""
    day = _in_wib(moment)
    return f"{day.day:02d} {_MONTHS[day.month - 1]} {day.year}"


def wib_datetime(moment: datetime) -> str:
    """ "08 Des 2026 14:05 WIB"."""
    return f"{wib_date(moment)} {_in_wib(moment):%H:%M} WIB"


def weight_text(grams: int) -> str:
    """850 -> "850 g"; 1250 -> "1,25 kg" (Indonesian decimal comma)."""
    if grams < 1000:
        return f"{grams} g"
    kilos = (Decimal(grams) / 1000).quantize(Decimal("0.01"))
    return f"{kilos.normalize():f}".replace(".", ",") + " kg"


def _in_wib(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an instant without a time zone has no WIB time")
    return moment.astimezone(WIB)


# --- fitting text into boxes


def one_line(text: str | None) -> str:
    """Newlines and tabs from the channels' data would break the layout: plain spaces instead."""
    return " ".join((text or "").split())


def fit(text: str, font: str, size: float, width: float) -> str:
    """The text, cut with an ellipsis where it would pass width."""
    if stringWidth(text, font, size) <= width:
        return text
    # Binary search for the longest prefix that fits with the ellipsis (names can be hundreds of characters).
    shortest, longest = 0, len(text)
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if stringWidth(text[:middle].rstrip() + ELLIPSIS, font, size) <= width:
            shortest = middle
        else:
            longest = middle - 1
    return text[:shortest].rstrip() + ELLIPSIS


def shrunk_to_fit(text: str, font: str, size: float, smallest: float, width: float) -> float:
    """The font size, from size down to smallest, at which the text fits width (smallest if none does)."""
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return max(size, smallest)


def wrap(texts: Sequence[str], font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Each text wrapped at width, all of them in at most max_lines lines; an ellipsis marks a cut."""
    lines: list[str] = []
    for text in texts:
        cleaned = one_line(text)
        if cleaned:
            # simpleSplit breaks at spaces only: a longer word is cut by fit.
            lines.extend(fit(line, font, size, width) for line in simpleSplit(cleaned, font, size, width))
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    if kept:
        kept[-1] = fit(kept[-1].removesuffix(ELLIPSIS) + ELLIPSIS, font, size, width)
    return kept


def encodable_in_code128(value: str) -> bool:
    """Code 128 carries printable ASCII; reportlab silently drops other characters, and a barcode
    that says something else than the text under it is worse than none."""
    return bool(value) and all(" " <= char <= "~" for char in value)


def draw_barcode(canvas: Canvas, value: str, x: float, y: float, width: float, bar_height: float) -> float:
    """Code 128 of value, fitted into width and centred on it; its bottom at y. Returns the width used."""
    probe = Code128(value, barWidth=1, barHeight=bar_height, humanReadable=False)
    bar_width = min(width / probe.width, _MAX_BAR_WIDTH)
    barcode = Code128(value, barWidth=bar_width, barHeight=bar_height, humanReadable=False)
    barcode.drawOn(canvas, x + (width - barcode.width) / 2, y)
    return barcode.width


# --- the label


def render_own_label(label: OwnLabel, size: LabelSize = "a6") -> bytes:
    """The label as a one-page PDF."""
    if size not in LABEL_PAGE_SIZES:
        raise ValueError(f"unknown label size {size!r}: a6 or 10x15")
    page_width, page_height = LABEL_PAGE_SIZES[size]
    buffer = BytesIO()
    # invariant: the same label gives the same bytes (no creation time or random id inside).
    canvas = Canvas(buffer, pagesize=(page_width, page_height), pageCompression=1, invariant=1)
    canvas.setTitle(f"Label {one_line(label.resi)}")
    _LabelDrawing(canvas, page_width, page_height).draw(label)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class _LabelDrawing:
    """Draws top-down: `top` is the y where the next section starts, and it only goes down."""

    def __init__(self, canvas: Canvas, page_width: float, page_height: float) -> None:
        self.canvas = canvas
        self.left = _MARGIN
        self.right = page_width - _MARGIN
        self.width = self.right - self.left
        self.bottom = _MARGIN
        self.top = page_height - _MARGIN

    def draw(self, label: OwnLabel) -> None:
        self._header(label)
        self._rule()
        self._resi(label.resi)
        self._rule()
        self._party("Pengirim", label.sender, name_size=8, text_size=7, max_address_lines=2)
        self._rule()
        self._party("Penerima", label.recipient, name_size=12, text_size=9.5, max_address_lines=4)
        self._rule()
        self._order(label)
        self._rule()
        self._items(label)

    # sections

    def _header(self, label: OwnLabel) -> None:
        height = 24
        # Zero (or less) to collect is not cash on delivery: the courier collects nothing.
        amount = label.cod_amount or Decimal(0)
        cod = amount > 0
        box_text = f"COD Rp {rupiah(amount)}" if cod else "NON-COD"
        # The amount is what the courier collects: shrunk if it must be, never cut.
        box_size = shrunk_to_fit(box_text, BOLD, 11, 6, self.width * 0.6 - 10)
        box_width = stringWidth(box_text, BOLD, box_size) + 10
        box_left, box_bottom = self.right - box_width, self.top - height
        if cod:
            self.canvas.setFillColorRGB(0, 0, 0)
            self.canvas.rect(box_left, box_bottom, box_width, height, stroke=0, fill=1)
            self.canvas.setFillColorRGB(1, 1, 1)
        else:
            self.canvas.setLineWidth(1)
            self.canvas.rect(box_left, box_bottom, box_width, height, stroke=1, fill=0)
        self._text(box_left + 5, box_bottom + 8, box_text, BOLD, box_size, box_width - 10)
        self.canvas.setFillColorRGB(0, 0, 0)

        courier = one_line(f"{label.courier} {label.service or ''}").upper()
        room = box_left - self.left - 6
        # Shrunk before it is cut: the courier must recognise its own parcels.
        courier_size = shrunk_to_fit(courier, BOLD, 18, 11, room)
        self._text(self.left, box_bottom + 6, courier, BOLD, courier_size, room)
        self.top = box_bottom

    def _resi(self, resi: str) -> None:
        resi = one_line(resi)
        self.top -= _GAP
        if encodable_in_code128(resi):
            self.top -= _RESI_BAR_HEIGHT
            draw_barcode(self.canvas, resi, self.left, self.top, self.width, _RESI_BAR_HEIGHT)
        self.top -= 13
        # The resi is typed in when the barcode will not scan: shrunk before it is ever cut.
        size = shrunk_to_fit(resi, BOLD, 12, 6, self.width)
        self.canvas.setFont(BOLD, size)
        self.canvas.drawCentredString(self.left + self.width / 2, self.top, fit(resi, BOLD, size, self.width))
        self.top -= 3

    def _party(
        self, caption: str, party: LabelParty, name_size: float, text_size: float, max_address_lines: int
    ) -> None:
        self.top -= 8
        self._text(self.left, self.top, caption, BOLD, 6.5, self.width)
        self.top -= name_size + 1
        self._text(self.left, self.top, one_line(party.name), BOLD, name_size, self.width)
        phone = one_line(party.phone)
        if phone:
            self.top -= text_size + 2
            self._text(self.left, self.top, phone, FONT, text_size, self.width)
        for line in wrap(party.lines, FONT, text_size, self.width, max_address_lines):
            self.top -= text_size + 1.5
            self._text(self.left, self.top, line, FONT, text_size, self.width)
        self.top -= 3

    def _order(self, label: OwnLabel) -> None:
        column_gap = 6
        left_width = self.width * 0.55
        right_left = self.left + left_width + column_gap
        right_width = self.right - right_left
        start = self.top

        # Left: the order number, in text and as a barcode.
        y = start - 8
        self._text(self.left, y, "No. Pesanan", BOLD, 6.5, left_width)
        y -= 10
        order_number = one_line(label.order_number)
        self._text(self.left, y, order_number, BOLD, 9, left_width)
        if encodable_in_code128(order_number):
            y -= _ORDER_BAR_HEIGHT + 2
            draw_barcode(self.canvas, order_number, self.left, y, left_width, _ORDER_BAR_HEIGHT)
        left_bottom = y

        # Right: the facts a packer or courier looks up.
        facts = [("Channel", one_line(label.channel)), ("ID Paket", one_line(label.parcel_id))]
        if label.weight_grams is not None:
            facts.append(("Berat", weight_text(label.weight_grams)))
        if label.ship_by is not None:
            facts.append(("Kirim sebelum", wib_date(label.ship_by)))
        y = start
        caption_width = 44
        for caption, value in facts:
            y -= 9
            self._text(right_left, y, caption, FONT, 6.5, caption_width)
            self._text(right_left + caption_width, y, value, BOLD, 7.5, right_width - caption_width)
        self.top = min(left_bottom, y) - 3

    def _items(self, label: OwnLabel) -> None:
        size, leading = 7.0, 8.5
        room = int((self.top - 8 - self.bottom) // leading)  # lines that fit under the caption
        if not label.lines or room < 1:
            return
        self.top -= 8
        self._text(self.left, self.top, "Isi Paket", BOLD, 6.5, self.width)
        shown = label.lines if len(label.lines) <= room else label.lines[: max(room - 1, 0)]
        quantity_width = 24
        for line in shown:
            self.top -= leading
            text = one_line(f"{line.sku} {line.name or ''}")
            self._text(self.left, self.top, text, FONT, size, self.width - quantity_width - 4)
            self._text(self.right - quantity_width, self.top, f"x {line.quantity}", BOLD, size, quantity_width)
        hidden = len(label.lines) - len(shown)
        if hidden:
            self.top -= leading
            self._text(self.left, self.top, f"+{hidden} lainnya", BOLD, size, self.width)

    # drawing

    def _rule(self) -> None:
        self.top -= 2
        self.canvas.setLineWidth(0.6)
        self.canvas.line(self.left, self.top, self.right, self.top)

    def _text(self, x: float, y: float, text: str, font: str, size: float, width: float) -> None:
        self.canvas.setFont(font, size)
        self.canvas.drawString(x, y, fit(text, font, size, width))
