"""Screenshots of the page's main views, at desktop width and at a 360 px phone's, over the
demo's two journals. The browser tests take them all (into $TEND_SCREENSHOTS, or a temporary
folder) and check none is blank; `python -m tests.screenshots docs/images` writes the few the
user guide shows (today, the week and the devices, each at both widths) from a running
`tend demo --ui`, kept small.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser import DESKTOP, PHONE, chromium, opened, origin, served

if TYPE_CHECKING:
    from playwright.async_api import Browser


def last_week() -> str:
    today = dt.date.today()
    return (today - dt.timedelta(days=today.weekday() + 7)).isoformat()


async def shoot(
    home: Path, empty: Path, folder: Path, paths: list[str], names: list[str]
) -> list[Path]:
    """Each of `paths` on `home`'s page, and the setup page on the empty home, at both widths;
    the PNGs written, named NAME-desktop.png and NAME-phone.png."""
    async with served(home) as address, served(empty) as fresh, chromium() as browser:
        return await shoot_at(browser, address, folder, paths, names, setup=fresh)


async def shoot_at(
    browser: Browser,
    address: str,
    folder: Path,
    paths: list[str],
    names: list[str],
    setup: str | None = None,
) -> list[Path]:
    written: list[Path] = []
    page = await opened(browser, address)  # each launch secret is good for one browser
    starting = await opened(browser, setup) if setup else None
    for size, width in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await page.set_viewport_size(size)
        for path, name in zip(paths, names, strict=True):
            await page.goto(origin(address) + path)
            await page.evaluate("document.fonts.ready.then(() => 1)")
            picture = folder / f"{name}-{width}.png"
            await page.screenshot(path=str(picture))
            written.append(picture)
        if starting is not None:
            await starting.set_viewport_size(size)
            await starting.reload()
            picture = folder / f"setup-{width}.png"
            await starting.screenshot(path=str(picture))
            written.append(picture)
    return written


def not_blank(picture: Path) -> bool:
    """More than a handful of colours, none covering nearly all of the picture."""
    from PIL import Image

    with Image.open(picture) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 16) or []
        total = pixels.width * pixels.height
    if colours == []:  # more than 65536 colours: surely not blank
        return True
    return len(colours) > 8 and max(count for count, _ in colours) < 0.98 * total


def smaller(picture: Path) -> None:
    """A palette of 64 colours: the page's few colours and its text stay crisp, the file small."""
    from PIL import Image

    with Image.open(picture) as image:
        quantized = image.convert("RGB").quantize(colors=64)
    quantized.save(picture, optimize=True)


async def guide_set(folder: Path) -> list[Path]:
    """Robin's page as `tend demo --ui` opens it, its relay live: today, the demo's last week,
    the devices."""
    from tests.conftest import tend_env, tend_executable

    demo = await asyncio.create_subprocess_exec(
        tend_executable(),
        "demo",
        "--ui",
        "--no-browser",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=tend_env(),
    )
    assert demo.stdout is not None
    try:
        async with asyncio.timeout(120):
            while not (found := re.search(rb"Robin's page: (\S+)", await demo.stdout.readline())):
                pass
        paths = ["/", f"/week?at={last_week()}", "/devices"]
        async with chromium() as browser:
            return await shoot_at(
                browser, found.group(1).decode(), folder, paths, ["today", "week", "devices"]
            )
    finally:
        demo.send_signal(signal.SIGINT)
        await asyncio.wait_for(demo.communicate(), 60)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tend-shots-") as shots:
        for picture in asyncio.run(guide_set(Path(shots))):
            assert not_blank(picture), picture
            smaller(picture)
            (folder / f"ui-{picture.name}").write_bytes(picture.read_bytes())
            print(folder / f"ui-{picture.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
