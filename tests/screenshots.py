"""Screenshots of the page's main views, at desktop width and at a 360 px phone's, over the
demo's two journals. The browser tests take them all (into $TEND_SCREENSHOTS, or a temporary
folder) and check none is blank; `python -m tests.screenshots docs/images` writes the few the
user guide shows (today, the week and the devices, each at both widths), kept small.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.browser import DESKTOP, PHONE, chromium, opened, origin, served

GUIDE = {"/": "today", "/week": "week", "/devices": "devices"}


async def shoot(
    home: Path, empty: Path, folder: Path, paths: list[str], names: list[str]
) -> list[Path]:
    """Each of `paths` on `home`'s page, and the setup page on the empty home, at both widths;
    the PNGs written, named NAME-desktop.png and NAME-phone.png."""
    written: list[Path] = []
    async with served(home) as address, served(empty) as fresh, chromium() as browser:
        page = await opened(browser, address)  # each launch secret is good for one browser
        setup = await opened(browser, fresh)
        for size, width in ((DESKTOP, "desktop"), (PHONE, "phone")):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            for path, name in zip(paths, names, strict=True):
                await page.goto(origin(address) + path)
                await page.evaluate("document.fonts.ready.then(() => 1)")
                picture = folder / f"{name}-{width}.png"
                await page.screenshot(path=str(picture))
                written.append(picture)
            await setup.set_viewport_size(size)  # type: ignore[arg-type]
            await setup.reload()
            picture = folder / f"setup-{width}.png"
            await setup.screenshot(path=str(picture))
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


def main(folder: Path) -> None:
    from tests.conftest import tend_env, tend_executable

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tend-shots-") as work:
        story = Path(work) / "story"
        subprocess.run(
            [tend_executable(), "demo", "--keep", str(story)],
            check=True,
            capture_output=True,
            env=tend_env(),
        )
        with tempfile.TemporaryDirectory(prefix="tend-shots-") as shots:
            written = asyncio.run(
                shoot(
                    story / "robin",
                    Path(work) / "empty",
                    Path(shots),
                    list(GUIDE),
                    list(GUIDE.values()),
                )
            )
            for picture in written:
                if picture.stem.startswith("setup"):
                    continue
                assert not_blank(picture), picture
                smaller(picture)
                (folder / f"ui-{picture.name}").write_bytes(picture.read_bytes())
                print(folder / f"ui-{picture.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
