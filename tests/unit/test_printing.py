"""Printing (oms.printing): the OMS's own label and the print job's one PDF, read back with pypdf.

Marketplace labels are stood in for by PDFs drawn here with reportlab, in the sizes the marketplaces
give: A6, 100 x 150 mm, A4 (the label in a corner), several pages, a page shown turned (/Rotate).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject
from reportlab.lib.pagesizes import A4, A6
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from oms.ports.logistics import (
    LabelLine,
    LabelParty,
    OwnLabel,
    PackingList,
    PickLine,
    Printer,
    PrintSheet,
)
from oms.printing import PdfPrinter
from oms.printing.own_label import rupiah, weight_text, wib_date

PRINTER: Printer = PdfPrinter()
PRINTED_AT = datetime(2026, 12, 8, 7, 5, tzinfo=UTC)  # 14:05 WIB
A4_WIDTH, A4_HEIGHT = A4
A6_WIDTH, A6_HEIGHT = A6
SHARED = Path(__file__).resolve().parents[2] / "shared"


# --- what the tests print


def own_label(number: int = 1, cod: Decimal | None = Decimal(1_250_000), **changes: Any) -> OwnLabel:
    label = OwnLabel(
        parcel_id=f"PCL-{number:04d}",
        order_number=f"WEB-20261208-{number:04d}",
        channel="web",
        sender=LabelParty("Toko Maju Jaya", "0812-3456-7890", ("Jl. Raya Bekasi Km 18, Cakung", "Jakarta Timur")),
        recipient=LabelParty(
            "Siti Rahmawati", "0857-1111-2222", ("Perumahan Griya Asri Blok C2 No. 14", "Kab. Bogor, Jawa Barat 16914")
        ),
        courier="jne",
        service="reg",
        resi=f"JP{number:010d}",
        cod_amount=cod,
        lines=(LabelLine("KAOS-HITAM-L", "Kaos Polos Hitam L", 2), LabelLine("TOPI-01", "Topi Baseball", 1)),
        weight_grams=1250,
        ship_by=datetime(2026, 12, 8, 10, 0, tzinfo=UTC),
    )
    return replace(label, **changes)


def marketplace_label(*pages: tuple[tuple[float, float], str], rotate: int = 0) -> bytes:
    """A PDF with one page per (size, text): a frame round the page and the text near its top left."""
    buffer = BytesIO()
    canvas = Canvas(buffer)
    for size, text in pages:
        canvas.setPageSize(size)
        canvas.rect(5, 5, size[0] - 10, size[1] - 10)
        canvas.setFont("Helvetica", 10)
        canvas.drawString(20, size[1] - 30, text)
        canvas.showPage()
    canvas.save()
    if not rotate:
        return buffer.getvalue()
    writer = PdfWriter(clone_from=PdfReader(buffer))
    for page in writer.pages:
        page.rotate(rotate)
    return written(writer)


def written(writer: PdfWriter) -> bytes:
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def packing_list(number: int) -> PackingList:
    label = own_label(number)
    return PackingList(
        parcel_id=label.parcel_id,
        order_number=label.order_number,
        channel="shopee",
        resi=label.resi,
        courier="jne",
        lines=label.lines,
        shop="Toko Maju Official",
    )


PICK_LIST = (
    PickLine("TOPI-01", "Topi Baseball", 3, 3, node_id="JKT-01", location="B-02"),
    PickLine("KAOS-HITAM-L", "Kaos Polos Hitam L", 6, 3, node_id="JKT-01", location="A-01"),
)


def sheet(layout: str, labels: list[tuple[str, bytes]], packing: int = 0, pick: tuple[PickLine, ...] = PICK_LIST):
    return PRINTER.sheet(
        PrintSheet(
            layout=layout,  # type: ignore[arg-type]
            labels=tuple(labels),
            pick_list=pick,
            packing_lists=tuple(packing_list(number) for number in range(1, packing + 1)),
            title="Print job PJ-20261208-0001",
            printed_at=PRINTED_AT,
        )
    )


def own_labels(count: int) -> list[tuple[str, bytes]]:
    return [(f"PCL-{n:04d}", PRINTER.own_label(own_label(n))) for n in range(1, count + 1)]


# --- reading the PDF back


def pages_of(pdf: bytes) -> list[PageObject]:
    return list(PdfReader(BytesIO(pdf)).pages)


def size(page: PageObject) -> tuple[float, float]:
    return round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1)


def text_origins(page: PageObject) -> dict[str, tuple[float, float]]:
    """Each text drawn on the page -> where it starts, in the page's coordinates."""
    origins: dict[str, tuple[float, float]] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        if text.strip():
            x, y = tm[4], tm[5]
            origins[text.strip()] = (x * cm[0] + y * cm[2] + cm[4], x * cm[1] + y * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)
    return origins


def text_extents(page: PageObject) -> list[tuple[str, float, float, float]]:
    """(text, left, right, baseline) of each text drawn upright and unscaled (a label as rendered)."""
    extents: list[tuple[str, float, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: dict, font_size: float) -> None:
        if text.strip():
            font_name = str(font["/BaseFont"]).lstrip("/")
            extents.append((text, tm[4], tm[4] + stringWidth(text, font_name, font_size), tm[5]))

    page.extract_text(visitor_text=visit)
    return extents


def assert_near(point: tuple[float, float], expected: tuple[float, float], tolerance: float = 1.0) -> None:
    assert abs(point[0] - expected[0]) <= tolerance and abs(point[1] - expected[1]) <= tolerance, (point, expected)


A6_SIZE = (297.6, 419.5)
A4_SIZE = (595.3, 841.9)


# --- formats


def test_indonesian_formats() -> None:
    assert rupiah(Decimal(1_250_000)) == "1.250.000"
    assert rupiah(Decimal("999.50")) == "1.000"  # whole rupiah, half up
    assert rupiah(Decimal(500)) == "500"
    assert weight_text(850) == "850 g"
    assert weight_text(1250) == "1,25 kg"
    assert weight_text(2000) == "2 kg"
    # 18:00 UTC is already 01:00 WIB the next day.
    assert wib_date(datetime(2026, 12, 7, 18, 0, tzinfo=UTC)) == "08 Des 2026"
    assert wib_date(datetime(2026, 5, 1, 0, 0, tzinfo=UTC)) == "01 Mei 2026"
    with pytest.raises(ValueError, match="time zone"):
        wib_date(datetime(2026, 12, 8, 10, 0))


# --- the own label


def test_own_label_shows_the_courier_cod_resi_and_people() -> None:
    [page] = pages_of(PRINTER.own_label(own_label(7)))

    assert size(page) == A6_SIZE
    text = page.extract_text()
    for expected in (
        "JNE REG",
        "COD Rp 1.250.000",
        "JP0000000007",
        "Siti Rahmawati",
        "Toko Maju Jaya",
        "Pengirim",
        "Penerima",
        "No. Pesanan",
        "WEB-20261208-0007",
        "PCL-0007",
        "Berat",
        "1,25 kg",
        "08 Des 2026",
        "KAOS-HITAM-L",
    ):
        assert expected in text, expected
    assert "NON-COD" not in text


def test_own_label_without_cod_says_non_cod() -> None:
    for cod in (None, Decimal(0)):
        text = pages_of(PRINTER.own_label(own_label(cod=cod)))[0].extract_text()
        assert "NON-COD" in text
        assert "COD Rp" not in text


def test_own_label_in_10_x_15_cm() -> None:
    [page] = pages_of(PRINTER.own_label(own_label(), size="10x15"))
    assert size(page) == (283.5, 425.2)
    with pytest.raises(ValueError, match="label size"):
        PRINTER.own_label(own_label(), size="a4")  # type: ignore[arg-type]


def test_own_label_long_texts_stay_on_the_page() -> None:
    long_address = "Perumahan Griya Asri Blok C2 No. 14 RT 03/RW 07 Kelurahan Sukamaju " * 5
    resi = "JP" + "1234567890" * 4
    label = own_label(
        recipient=LabelParty(
            "Siti Rahmawati Putri Kusumawardhani Ningrum Sekar Ayu Lestari " * 2, "0857", (long_address,)
        ),
        sender=LabelParty("Toko " * 40, None, (long_address, "Tanpa" + "Spasi" * 60)),
        courier="SiCepat Ekspres Indonesia",
        service="HALU BEST SAME DAY",
        resi=resi,
        lines=tuple(LabelLine(f"SKU-{n}", "Kaos " * 30, n) for n in range(1, 41)),
        cod_amount=Decimal("123456789012345"),
    )
    [page] = pages_of(PRINTER.own_label(label))
    text = page.extract_text()

    assert resi in text  # shrunk to fit, never cut
    assert "COD Rp 123.456.789.012.345" in text  # what the courier collects: shrunk, never cut
    assert "lainnya" in text  # forty lines do not fit: the rest is counted
    width, height = size(page)
    for drawn, left, right, baseline in text_extents(page):
        assert left > 0 and right < width and 0 < baseline < height, drawn


def test_the_items_that_do_not_fit_are_counted() -> None:
    lines = tuple(LabelLine(f"SKU-{n:02d}", "Barang", 1) for n in range(1, 61))
    text = pages_of(PRINTER.own_label(own_label(lines=lines)))[0].extract_text()
    shown = sum(f"SKU-{n:02d}" in text for n in range(1, 61))
    assert 0 < shown < 60
    assert f"+{60 - shown} lainnya" in text


# --- the sheet


def test_a6_sheet_is_labels_then_pick_list_then_packing_lists() -> None:
    printed = sheet("a6", own_labels(3), packing=3)

    pages = pages_of(printed.pdf)
    assert printed.pages == len(pages) == 3 + 1 + 3
    assert printed.failed == {}
    assert [size(page) for page in pages] == [A6_SIZE] * 3 + [A4_SIZE] + [A6_SIZE] * 3
    for number, page in enumerate(pages[:3], start=1):  # in print order
        assert f"JP{number:010d}" in page.extract_text()
    assert "Print job PJ-20261208-0001" in pages[3].extract_text()
    for number, page in enumerate(pages[4:], start=1):
        text = page.extract_text()
        assert f"WEB-20261208-{number:04d}" in text
        assert f"PCL-{number:04d}" in text
        assert f"JP{number:010d}" in text
        assert "KAOS-HITAM-L" in text


def test_a4x4_sheet_puts_four_labels_on_a_page_in_reading_order() -> None:
    printed = sheet("a4x4", own_labels(5), packing=5)

    pages = pages_of(printed.pdf)
    assert printed.pages == len(pages) == 2 + 1 + 5  # ceil(5 / 4) label pages
    assert [size(page) for page in pages[:3]] == [A4_SIZE] * 3
    assert [size(page) for page in pages[3:]] == [A6_SIZE] * 5
    origins = text_origins(pages[0])
    top_left, top_right = origins["JP0000000001"], origins["JP0000000002"]
    bottom_left, bottom_right = origins["JP0000000003"], origins["JP0000000004"]
    assert top_left[0] < A4_WIDTH / 2 < top_right[0] and top_left[1] > A4_HEIGHT / 2 < top_right[1]
    assert bottom_left[0] < A4_WIDTH / 2 < bottom_right[0] and bottom_left[1] < A4_HEIGHT / 2 > bottom_right[1]
    assert "JP0000000005" in text_origins(pages[1])


def test_marketplace_labels_of_any_size_fit_an_a6_page_centred() -> None:
    a6_label = marketplace_label((A6, "SPX A6"))
    thermal_label = marketplace_label(((100 * mm, 150 * mm), "JNT 100x150"))
    a4_label = marketplace_label((A4, "LAZADA A4"))

    printed = sheet("a6", [("P1", a6_label), ("P2", thermal_label), ("P3", a4_label)], pick=())

    pages = pages_of(printed.pdf)
    assert printed.pages == 3
    assert all(size(page) == A6_SIZE for page in pages)
    # An A6 label is placed as it is.
    assert_near(text_origins(pages[0])["SPX A6"], (20, A6_HEIGHT - 30))
    # 100 x 150 mm is scaled down to A6's height, centred across.
    scale = A6_HEIGHT / (150 * mm)
    left = (A6_WIDTH - 100 * mm * scale) / 2
    assert_near(text_origins(pages[1])["JNT 100x150"], (left + 20 * scale, (150 * mm - 30) * scale))
    # A4 is scaled to A6 (the same proportions): a half.
    assert_near(text_origins(pages[2])["LAZADA A4"], (20 * A6_WIDTH / A4_WIDTH, A6_HEIGHT - 30 * A6_WIDTH / A4_WIDTH))


def test_a4x4_scales_each_label_into_its_quarter() -> None:
    printed = sheet("a4x4", [("P1", marketplace_label((A4, "FIRST"))), ("P2", marketplace_label((A6, "SECOND")))])

    origins = text_origins(pages_of(printed.pdf)[0])
    first, second = origins["FIRST"], origins["SECOND"]
    assert 0 < first[0] < A4_WIDTH / 2 and A4_HEIGHT / 2 < first[1] < A4_HEIGHT
    assert A4_WIDTH / 2 < second[0] < A4_WIDTH and A4_HEIGHT / 2 < second[1] < A4_HEIGHT


def test_a_multi_page_label_gives_a_label_page_each() -> None:
    tokopedia = marketplace_label((A6, "PAGE ONE"), (A6, "PAGE TWO"), ((100 * mm, 150 * mm), "PAGE THREE"))

    printed = sheet("a6", [("P1", tokopedia), *own_labels(1)], pick=())

    pages = pages_of(printed.pdf)
    assert printed.pages == 4
    assert [page.extract_text().strip() for page in pages[:3]] == ["PAGE ONE", "PAGE TWO", "PAGE THREE"]
    assert "JP0000000001" in pages[3].extract_text()


def test_a_page_shown_turned_is_placed_as_shown() -> None:
    # A 100 x 150 mm page shown turned a quarter clockwise: a landscape label, 150 mm wide and 100 mm high.
    width, height = 100 * mm, 150 * mm
    turned = marketplace_label(((width, height), "TURNED"), rotate=90)

    printed = sheet("a6", [("P1", turned)], pick=())

    # Fitted by its shown width (150 mm into 105 mm), centred up and down; the top left corner of
    # the page as drawn is the top right one as shown: (x, y) shows at (y, width - x).
    scale = A6_WIDTH / height
    bottom = (A6_HEIGHT - width * scale) / 2
    x, y = 20, height - 30
    assert_near(text_origins(pages_of(printed.pdf)[0])["TURNED"], (y * scale, bottom + (width - x) * scale))


def test_unreadable_labels_are_reported_and_the_others_print() -> None:
    locked = PdfWriter(clone_from=PdfReader(BytesIO(marketplace_label((A6, "LOCKED")))))
    locked.encrypt(user_password="rahasia", owner_password="rahasia", algorithm="AES-128")
    no_pages = PdfWriter()

    printed = sheet(
        "a6",
        [
            ("GOOD-1", marketplace_label((A6, "GOOD ONE"))),
            ("CORRUPT", b"%PDF-1.7\nthis is not a pdf at all"),
            ("NOT-PDF", b"<html>label expired</html>"),
            ("LOCKED", written(locked)),
            ("EMPTY", written(no_pages)),
            ("GOOD-2", marketplace_label((A6, "GOOD TWO"))),
        ],
        pick=(),
    )

    assert set(printed.failed) == {"CORRUPT", "NOT-PDF", "LOCKED", "EMPTY"}
    assert "password" in printed.failed["LOCKED"]
    assert "no pages" in printed.failed["EMPTY"]
    assert [page.extract_text().strip() for page in pages_of(printed.pdf)] == ["GOOD ONE", "GOOD TWO"]
    assert printed.pages == 2


def broken_content(text: str) -> bytes:
    """A label whose PDF opens but whose page content breaks off (a download cut short inside it)."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(marketplace_label((A6, text)))))
    content = DecodedStreamObject()
    content.set_data(b"q 1 0 0 1 0 0 cm (" + text.encode() + b" unterminated")  # the fault under test
    writer.pages[0][NameObject("/Contents")] = writer._add_object(content)
    return written(writer)


def test_a_label_whose_content_breaks_while_placed_leaves_no_gap() -> None:
    printed = sheet(
        "a6",
        [
            ("GOOD-1", marketplace_label((A6, "GOOD ONE"))),
            ("BROKEN-1", broken_content("BROKEN ONE")),
            ("GOOD-2", marketplace_label((A6, "GOOD TWO"))),
            ("BROKEN-2", broken_content("BROKEN TWO")),
        ],
        pick=(),
    )

    assert set(printed.failed) == {"BROKEN-1", "BROKEN-2"}
    assert "cannot be placed" in printed.failed["BROKEN-1"]
    # No blank page for either: the next label took the first one's page, and the last one's was dropped.
    assert [page.extract_text().strip() for page in pages_of(printed.pdf)] == ["GOOD ONE", "GOOD TWO"]
    assert printed.pages == 2


def test_a_label_locked_only_against_editing_still_prints() -> None:
    # Marketplaces sometimes protect a label from editing: anyone may open it (an empty user password).
    protected = PdfWriter(clone_from=PdfReader(BytesIO(marketplace_label((A6, "PROTECTED")))))
    protected.encrypt(user_password="", owner_password="owner-only", algorithm="AES-128")

    printed = sheet("a6", [("P1", written(protected))], pick=())

    assert printed.failed == {}
    assert pages_of(printed.pdf)[0].extract_text().strip() == "PROTECTED"


def test_the_pick_list_is_in_walking_order_with_page_numbers() -> None:
    lines = (
        PickLine("SKU-C", "Charlie", 1, 1, node_id="SBY-01", location="A-01"),
        PickLine("SKU-B", "Bravo", 2, 1, node_id="JKT-01", location="B-01"),
        PickLine("SKU-A2", "Alpha dua", 3, 2, node_id="JKT-01", location="A-01"),
        PickLine("SKU-A1", "Alpha satu", 4, 2, node_id="JKT-01", location="A-01"),
        PickLine("SKU-Z", "Tanpa lokasi", 5, 1),
    )

    printed = sheet("a6", [], pick=lines)

    [page] = pages_of(printed.pdf)
    assert size(page) == A4_SIZE
    text = page.extract_text()
    positions = [text.index(sku) for sku in ("SKU-A1", "SKU-A2", "SKU-B", "SKU-C", "SKU-Z")]
    assert positions == sorted(positions)
    assert "Print job PJ-20261208-0001" in text
    assert "08 Des 2026 14:05 WIB" in text
    assert "Halaman 1/1" in text
    assert "15" in text  # the total quantity


def test_a_long_pick_list_flows_over_numbered_pages() -> None:
    lines = tuple(PickLine(f"SKU-{n:03d}", f"Barang nomor {n}", n, 1, "JKT-01", f"R-{n:03d}") for n in range(150))

    printed = sheet("a6", [], pick=lines)

    pages = pages_of(printed.pdf)
    total = len(pages)
    assert total > 1
    texts = [page.extract_text() for page in pages]
    for number, text in enumerate(texts, start=1):
        assert f"Halaman {number}/{total}" in text
        assert "Gudang" in text  # the table's heading, on every page
    assert all(any(f"SKU-{n:03d}" in text for text in texts) for n in range(150))


def test_a_packing_list_too_long_for_a_page_goes_on_naming_its_parcel() -> None:
    many = PackingList(
        "PCL-9", "WEB-9", "web", None, None, tuple(LabelLine(f"SKU-{n}", "Barang", 1) for n in range(60))
    )

    printed = PRINTER.sheet(PrintSheet("a6", (), (), (many,), "Job", PRINTED_AT))

    pages = pages_of(printed.pdf)
    assert len(pages) > 1
    assert all("WEB-9 · PCL-9" in page.extract_text() for page in pages)


def test_two_hundred_labels_on_a4() -> None:
    label = PRINTER.own_label(own_label())
    labels = [(f"PCL-{n:04d}", label) for n in range(200)]

    printed = sheet("a4x4", labels, pick=())

    assert printed.failed == {}
    assert printed.pages == len(pages_of(printed.pdf)) == 50


def test_the_sheet_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="layout"):
        sheet("a5", own_labels(1))
    with pytest.raises(ValueError, match="time zone"):
        PRINTER.sheet(PrintSheet("a6", (), PICK_LIST, (), "Job", datetime(2026, 12, 8, 14, 5)))


def test_importing_printing_leaves_reportlab_and_pypdf_unloaded() -> None:
    # Cold start: a function that never prints must not pay for reportlab.
    probe = "import oms.printing, sys; print('reportlab' in sys.modules, 'pypdf' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(SHARED)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]
