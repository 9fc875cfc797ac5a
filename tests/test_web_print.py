"""Posters print on one A4 page each: printed to PDF by Debian's Chromium, pages counted."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.stack import Stack
from tests.test_web_browser import SHOTS, _page, browser  # noqa: F401  (the fixture)
from tests.webstack import stack  # noqa: F401  (the fixture)


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.mark.parametrize("path", [
    "/poster/grid/洗马社区/第一网格",
    "/poster/team/洗马社区/水电一队",
    "/poster/team/洗马社区/家政三队",
], ids=["grid", "team", "another-team"])
async def test_each_poster_prints_on_one_a4_page(browser, stack: Stack, path: str) -> None:  # noqa: F811
    page = await _page(browser)
    response = await page.goto(stack.url + quote(path))
    assert response.status == 200
    await page.emulate_media(media="print")
    pdf = await page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (SHOTS / f"poster-{path.rsplit('/', 1)[1]}.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1, f"{path} prints on {pdf_pages(pdf)} A4 pages"
