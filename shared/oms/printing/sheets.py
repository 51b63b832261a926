"""A print job as one PDF: the labels, then the pick list, then a packing list per parcel.

Labels come as PDFs of any page size (the marketplaces' own, or the OMS's): each page is a label, scaled
to fit its slot (an A6 page, or a quarter of an A4 sheet) keeping its aspect ratio, centred. Pages are
placed as vectors with pypdf (never rasterized), so the job stays small and prints sharp. A label PDF
that cannot be read is reported in `failed`; the others print.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from xml.sax.saxutils import escape

from pypdf import PageObject, PdfReader, PdfWriter, Transformation
from pypdf.errors import PyPdfError
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, A6
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from oms.ports.logistics import PackingList, PickLine, PrintedSheet, PrintSheet
from oms.printing.own_label import BOLD, FONT, fit, one_line, wib_datetime

_A4_WIDTH, _A4_HEIGHT = A4
_A6_WIDTH, _A6_HEIGHT = A6
# A4 printers cannot print to the edge of the sheet: a label in a quarter keeps this much away from it.
_QUARTER_PADDING = 3 * mm


@dataclass(frozen=True)
class _Slot:
    """Where a label goes on its page, in points."""

    left: float
    bottom: float
    width: float
    height: float


_A6_SLOT = _Slot(0, 0, _A6_WIDTH, _A6_HEIGHT)
# Reading order: top left, top right, bottom left, bottom right.
_QUARTERS = tuple(
    _Slot(
        column * _A4_WIDTH / 2 + _QUARTER_PADDING,
        row * _A4_HEIGHT / 2 + _QUARTER_PADDING,
        _A4_WIDTH / 2 - 2 * _QUARTER_PADDING,
        _A4_HEIGHT / 2 - 2 * _QUARTER_PADDING,
    )
    for row in (1, 0)
    for column in (0, 1)
)


# How a PDF from outside breaks pypdf's parser: each means this one label cannot be printed.
_BROKEN_PDF = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError, zlib.error)


class UnreadableLabel(Exception):  # a refusal of one label, not a fault of the job
    """A label PDF that cannot be placed: its reason goes to PrintedSheet.failed."""


def build_sheet(sheet: PrintSheet) -> PrintedSheet:
    if sheet.printed_at.tzinfo is None:
        raise ValueError("printed_at must carry its time zone")
    writer = PdfWriter()
    failed: dict[str, str] = {}
    placed = _place_labels(writer, sheet, failed)
    if sheet.pick_list:
        writer.append(PdfReader(BytesIO(render_pick_list(sheet.pick_list, sheet.title, sheet.printed_at))))
    if sheet.packing_lists:
        writer.append(PdfReader(BytesIO(render_packing_lists(sheet.packing_lists))))
    for page in placed:
        # Merged pages carry their content uncompressed: compressing them is most of the size saved.
        page.compress_content_streams()
    # Every label brings its own copy of the same font dictionaries: keep one of each.
    writer.compress_identical_objects()
    output = BytesIO()
    writer.write(output)
    return PrintedSheet(pdf=output.getvalue(), pages=len(writer.pages), failed=failed)


# --- labels


def _place_labels(writer: PdfWriter, sheet: PrintSheet, failed: dict[str, str]) -> list[PageObject]:
    """Every readable label page on its slot, in order; returns the pages made."""
    if sheet.layout not in ("a6", "a4x4"):
        raise ValueError(f"unknown layout {sheet.layout!r}: a6 or a4x4")
    slots = (_A6_SLOT,) if sheet.layout == "a6" else _QUARTERS
    cut_lines = _cut_lines_page() if sheet.layout == "a4x4" else None

    label_pages: list[tuple[str, PageObject]] = []
    for parcel_id, pdf in sheet.labels:
        try:
            label_pages.extend((parcel_id, page) for page in _label_pages(pdf))
        except UnreadableLabel as refusal:
            failed[parcel_id] = str(refusal)

    made: list[PageObject] = []
    used = len(slots)  # slots filled on the last page made (none made yet: as if full)
    for parcel_id, label_page in label_pages:
        if used == len(slots):
            made.append(_new_page(writer, cut_lines))
            used = 0
        try:
            _place(made[-1], label_page, slots[used])
        except _BROKEN_PDF as error:
            # Its content broke while being placed: the page keeps the slot free for the next label.
            failed[parcel_id] = f"the PDF cannot be placed ({type(error).__name__})"
            continue
        used += 1
    if made and used == 0:  # the last page made got no label
        del writer.pages[-1]
        made.pop()
    return made


def _new_page(writer: PdfWriter, cut_lines: PageObject | None) -> PageObject:
    if cut_lines is None:
        return writer.add_blank_page(_A6_WIDTH, _A6_HEIGHT)
    page = writer.add_blank_page(_A4_WIDTH, _A4_HEIGHT)
    page.merge_page(cut_lines)
    return page


def _label_pages(pdf: bytes) -> list[PageObject]:
    """The pages of one label PDF, checked readable, or UnreadableLabel with the reason."""
    try:
        reader = PdfReader(BytesIO(pdf))
        # Encrypted with an empty user password (only "no editing" set) still opens; a real password does not.
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableLabel("the PDF is encrypted with a password")
        pages = list(reader.pages)
        for page in pages:
            box = page.cropbox
            if box.width <= 0 or box.height <= 0:
                raise UnreadableLabel("a page of the PDF has no size")
            # Decompress now: a truncated or corrupt stream fails here. (Parsing it is left to the
            # merge, which does it anyway: parsing twice would cost a third of the job's time.)
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
    except _BROKEN_PDF as error:
        raise UnreadableLabel(f"the PDF cannot be read ({type(error).__name__})") from error
    if not pages:
        raise UnreadableLabel("the PDF has no pages")
    return pages


def _place(target: PageObject, label_page: PageObject, slot: _Slot) -> None:
    upright, width, height = _upright(label_page)
    scale = min(slot.width / width, slot.height / height)
    placement = upright.scale(scale, scale).translate(
        slot.left + (slot.width - width * scale) / 2, slot.bottom + (slot.height - height * scale) / 2
    )
    target.merge_transformed_page(label_page, placement)


def _upright(page: PageObject) -> tuple[Transformation, float, float]:
    """The transformation that puts the page's visible box (its crop box, which pypdf also clips the
    merge to) at the origin, turned as a viewer shows it (/Rotate turns clockwise), and that box's size."""
    box = page.cropbox
    corners = ((box.left, box.bottom), (box.left, box.top), (box.right, box.bottom), (box.right, box.top))
    turn = Transformation().rotate(-page.rotation)
    turned = [turn.apply_on((float(x), float(y))) for x, y in corners]
    left, bottom = min(x for x, _ in turned), min(y for _, y in turned)
    width, height = max(x for x, _ in turned) - left, max(y for _, y in turned) - bottom
    return turn.translate(-left, -bottom), width, height


def _cut_lines_page() -> PageObject:
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.setLineWidth(0.3)
    canvas.setStrokeColor(colors.grey)
    canvas.setDash(3, 3)
    canvas.line(_A4_WIDTH / 2, 0, _A4_WIDTH / 2, _A4_HEIGHT)
    canvas.line(0, _A4_HEIGHT / 2, _A4_WIDTH, _A4_HEIGHT / 2)
    canvas.showPage()
    canvas.save()
    return PdfReader(buffer).pages[0]


# --- pick list and packing lists (reportlab platypus: tables that flow over pages)

_SMALL = ParagraphStyle("small", fontName=FONT, fontSize=8, leading=9.5)
_SMALL_BOLD = ParagraphStyle("small_bold", parent=_SMALL, fontName=BOLD)
_SMALL_RIGHT = ParagraphStyle("small_right", parent=_SMALL, alignment=2)
_TITLE = ParagraphStyle("title", fontName=BOLD, fontSize=13, leading=16)
_FACT = ParagraphStyle("fact", fontName=FONT, fontSize=8, leading=10)
_GRID = [
    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("TOPPADDING", (0, 0), (-1, -1), 2),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
]


def _cell(text: object, style: ParagraphStyle = _SMALL) -> Paragraph:
    # Paragraphs wrap long names and SKUs inside their column; their markup needs escaping.
    return Paragraph(escape(one_line(str(text))), style)


def render_pick_list(lines: Sequence[PickLine], title: str, printed_at: datetime) -> bytes:
    """A4 portrait: one row per SKU and bin, in walking order (node, location, SKU), with totals."""
    printed = wib_datetime(printed_at)

    def ordered(line: PickLine) -> tuple[bool, str, bool, str, str]:
        # Lines without a node or bin come after the ones with.
        return (line.node_id is None, line.node_id or "", line.location is None, line.location or "", line.sku)

    rows: list[list[object]] = [
        [_cell(caption, _SMALL_BOLD) for caption in ("Gudang", "Lokasi", "SKU", "Nama Barang", "Jumlah", "Paket")]
    ]
    for line in sorted(lines, key=ordered):
        rows.append(
            [
                _cell(line.node_id or "-"),
                _cell(line.location or "-"),
                _cell(line.sku),
                _cell(line.name or ""),
                _cell(line.quantity, _SMALL_RIGHT),
                _cell(line.parcels, _SMALL_RIGHT),
            ]
        )
    total_quantity = sum(line.quantity for line in lines)
    rows.append([_cell(f"Total {len(lines)} baris", _SMALL_BOLD), "", "", "", _cell(total_quantity, _SMALL_RIGHT), ""])
    widths = [60, 60, 110, None, 45, 40]
    usable = _A4_WIDTH - 30 * mm
    widths[3] = usable - sum(width for width in widths if width is not None)
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([*_GRID, ("SPAN", (0, -1), (3, -1))]))

    def header(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(BOLD, 12)
        canvas.drawString(doc.leftMargin, _A4_HEIGHT - 12 * mm, fit(one_line(title), BOLD, 12, doc.width * 0.55))
        canvas.setFont(FONT, 8)
        canvas.drawRightString(_A4_WIDTH - doc.rightMargin, _A4_HEIGHT - 12 * mm, f"Daftar Ambil · Dicetak {printed}")
        canvas.restoreState()

    document = _render(A4, [table], header, margins=(15 * mm, 20 * mm))
    return _number_pages(document, A4, bottom=8 * mm)


def render_packing_lists(packing_lists: Sequence[PackingList]) -> bytes:
    """A6, one parcel a page (a parcel with many lines goes on over more pages, its heading repeated)."""
    story: list[Flowable] = []
    for packing in packing_lists:
        if story:
            story.append(PageBreak())
        story.extend(_packing_list(packing))
    return _render(A6, story, None, margins=(6 * mm, 6 * mm))


def _packing_list(packing: PackingList) -> list[Flowable]:
    shop = f" · {packing.shop}" if packing.shop else ""
    courier = " · ".join(
        part for part in ((packing.courier or "").upper(), packing.resi and f"Resi {packing.resi}") if part
    )
    facts = [
        f"<b>No. Pesanan</b> {escape(one_line(packing.order_number))}",
        f"<b>ID Paket</b> {escape(one_line(packing.parcel_id))}",
        f"<b>Channel</b> {escape(one_line(packing.channel + shop))}",
    ]
    if courier:
        facts.append(f"<b>Kurir</b> {escape(one_line(courier))}")
    if packing.node_id:
        facts.append(f"<b>Gudang</b> {escape(one_line(packing.node_id))}")

    # The first row names the parcel again on every page the list goes on to.
    heading = _cell(f"{packing.order_number} · {packing.parcel_id}", _SMALL_BOLD)
    rows: list[list[object]] = [
        [heading, "", "", ""],
        ["", _cell("SKU", _SMALL_BOLD), _cell("Nama Barang", _SMALL_BOLD), _cell("Jml", _SMALL_BOLD)],
    ]
    for line in packing.lines:
        rows.append([_Checkbox(), _cell(line.sku), _cell(line.name or ""), _cell(line.quantity, _SMALL_RIGHT)])
    usable = _A6_WIDTH - 12 * mm
    table = Table(rows, colWidths=[16, 70, usable - 16 - 70 - 26, 26], repeatRows=2)
    table.setStyle(TableStyle([*_GRID, ("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 1), (-1, 1), colors.white)]))
    total = sum(line.quantity for line in packing.lines)
    return [
        Paragraph("Daftar Isi Paket", _TITLE),
        *(Paragraph(fact, _FACT) for fact in facts),
        Spacer(1, 4),
        table,
        Spacer(1, 4),
        Paragraph(f"<b>Total</b> {total} barang", _FACT),
    ]


class _Checkbox(Flowable):
    """An empty box the packer ticks."""

    _SIDE = 7

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self._SIDE, self._SIDE

    def draw(self) -> None:
        self.canv.setLineWidth(0.6)
        self.canv.rect(0, 0, self._SIDE, self._SIDE)


def _render(
    page_size: tuple[float, float],
    story: list[Flowable],
    on_page: Callable[[Canvas, SimpleDocTemplate], None] | None,
    margins: tuple[float, float],
) -> bytes:
    side, top_bottom = margins
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=page_size,
        leftMargin=side,
        rightMargin=side,
        topMargin=top_bottom,
        bottomMargin=top_bottom,
        invariant=1,
    )
    if on_page is None:
        document.build(story)
    else:
        document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _number_pages(pdf: bytes, page_size: tuple[float, float], bottom: float) -> bytes:
    """ "Halaman 1/3" on every page: the total is known only once the table has flowed, so the numbers
    are drawn on a page of their own each and laid over."""
    reader = PdfReader(BytesIO(pdf))
    total = len(reader.pages)
    numbers = BytesIO()
    canvas = Canvas(numbers, pagesize=page_size, invariant=1)
    for number in range(1, total + 1):
        canvas.setFont(FONT, 8)
        canvas.drawCentredString(page_size[0] / 2, bottom, f"Halaman {number}/{total}")
        canvas.showPage()
    canvas.save()
    writer = PdfWriter(clone_from=reader)
    for page, number_page in zip(writer.pages, PdfReader(numbers).pages, strict=True):
        page.merge_page(number_page)
        page.compress_content_streams()
    output = BytesIO()
    writer.write(output)
    return output.getvalue()
