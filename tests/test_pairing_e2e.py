"""Pairing and recovery as a couple does them: the real `tend` and a real relay on 127.0.0.1.

Short codes that carry the relay (and allow one try), links for later, two by design, safety
codes compared in person, the recovery phrase, a lost phone, and a person who lost everything.
"""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Relay, TendCLI, pair, tend_env

pytestmark = pytest.mark.slow  # a relay process and the real command for every step

CODE = re.compile(r"^Invite code: (\d{1,3}-[a-z]+-[a-z]+-[a-z]+@[\w.:-]+)$", re.M)
LINK = re.compile(r"^Invitation link: (tend:[a-z2-7]+@[\w.:/-]+)$", re.M)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _start_invite(cli: TendCLI, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        cli.argv("invite", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=tend_env(),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    found = CODE.match(first.rstrip("\n"))
    assert found, (first, proc.stderr.read() if proc.stderr else "")
    return proc, found.group(1)


def _device_lines(cli: TendCLI) -> list[str]:
    return cli.ok("devices").splitlines()


@pytest.fixture
def sam(tmp_path: Path) -> TendCLI:
    cli = TendCLI(tmp_path / "sam")
    cli.ok("init", "--name", "Sam", "--device", "laptop")
    return cli


# --- short codes ----------------------------------------------------------------------------------


def test_a_short_code_carries_the_relay_and_join_needs_only_the_code_and_a_name(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    alex = TendCLI(tmp_path / "alex")
    proc, code = _start_invite(sam, "--relay", relay.url, "--wait", "60")
    assert code.endswith(f"@127.0.0.1:{relay.port}")
    joined = alex.ok("join", code, "--name", "Alex", "--device", "phone")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Waiting up to 1 minute for it to join" in err
    inviter_code = re.search(r"Safety code: ([\d ]+)", out)
    joiner_code = re.search(r"Safety code: ([\d ]+)", joined)
    assert inviter_code and joiner_code
    assert inviter_code.group(1) == joiner_code.group(1)

    # Until they compare the codes in person, each device says so; confirming records it.
    for cli, other in ((sam, "Alex"), (alex, "Sam")):
        line = next(x for x in _device_lines(cli) if other in x)
        assert "not yet compared in person" in line
    assert "compared in person" in alex.ok("devices", "confirm")
    line = next(x for x in _device_lines(alex) if "Sam" in x)
    assert "not yet" not in line and "compared in person" in line
    assert "not yet compared in person" in next(x for x in _device_lines(sam) if "Alex" in x)

    # The relay came with the code: both sync with no --relay, and see each other's words.
    alex.ok("gratitude", "for the soup")
    alex.ok("sync")
    sam.ok("sync")
    assert any("for the soup" in str(g) for g in sam.json("week")["gratitude"])


def test_a_wrong_code_fails_after_one_try_and_the_inviter_reports_the_attempt(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    alex = TendCLI(tmp_path / "alex")
    proc, code = _start_invite(sam, "--relay", relay.url, "--wait", "60")
    number, words = code.split("@")[0].split("-", 1)
    wrong = f"{number}-{'-'.join(reversed(words.split('-')))}@{code.split('@')[1]}"
    assert wrong != code
    failed = alex("join", wrong, "--name", "Alex")
    assert failed.returncode == 1
    assert "not the right one" in _one_line(failed.stderr)
    assert not (alex.home / "device.tend").exists()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "someone tried to join with a different code" in err
    # One try only: the right code, now, finds the invitation closed.
    late = alex("join", code, "--name", "Alex")
    assert late.returncode == 1
    assert "no invitation waits under that code" in _one_line(late.stderr)
    assert [x for x in _device_lines(sam) if "Alex" in x] == []


def test_a_code_for_nobody_says_so_in_one_line(tmp_path: Path, relay: Relay) -> None:
    alex = TendCLI(tmp_path / "alex")
    result = alex("join", f"7-apple-river-stone@127.0.0.1:{relay.port}", "--name", "Alex")
    assert result.returncode == 1
    assert "no invitation waits under that code" in _one_line(result.stderr)
    garbled = alex("join", "seven-apple", "--name", "Alex")
    assert garbled.returncode in (1, 2)
    assert len(garbled.stderr.strip().splitlines()) <= 3


# --- links, for a partner who is not there now ----------------------------------------------------


def test_a_link_is_used_later_once_and_the_inviter_completes_at_its_next_sync(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    out = sam.ok("invite", "--link", "--relay", relay.url)
    found = LINK.search(out)
    assert found, out
    link = found.group(1)
    assert len(link.split("@")[0]) > 30  # long and random: nothing to guess
    svg = sam.home / "invitation.svg"
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert stat.S_IMODE(svg.stat().st_mode) == 0o600
    assert "7 days" in out

    sam.ok("checkin", "--day", "gentle", "--note", "written before Alex joined")
    sam.ok("sync")
    alex = TendCLI(tmp_path / "alex")
    joined = alex.ok("join", link, "--name", "Alex")
    assert "Joined" in joined and "next sync" in joined
    again = TendCLI(tmp_path / "someone")("join", link, "--name", "Robin")
    assert again.returncode == 1
    assert "no invitation waits under that link" in _one_line(again.stderr)

    done = sam.ok("sync")
    assert "A device joined with your link" in done
    alex.ok("sync")  # let in now: the keys came, and its first entries (its name) go up
    sam.ok("sync")
    assert "not yet compared in person" in next(x for x in _device_lines(sam) if "Alex" in x)
    notes = [p["checkin"] for p in alex.json("today")["people"] if p.get("checkin")]
    assert any(n["fields"].get("note") == "written before Alex joined" for n in notes)
    assert alex.ok("verify").startswith("All ")
    assert "A device joined" not in sam.ok("sync")  # completed once, then forgotten


# --- two by design --------------------------------------------------------------------------------


def test_a_third_person_needs_an_explicit_flag_and_is_told_what_they_will_read(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    pair(sam, TendCLI(tmp_path / "alex"), relay)
    refused = sam("invite", "--relay", relay.url, "--wait", "10")
    assert refused.returncode == 1
    message = _one_line(refused.stderr)
    assert "--another-person" in message and "read everything" in message
    # An own device is always allowed, with a short code (a link would carry the identity key).
    proc, _code = _start_invite(sam, "--own-device", "--relay", relay.url, "--wait", "10")
    proc.kill()
    proc.communicate(timeout=10)
    own_link = sam("invite", "--link", "--own-device", "--relay", relay.url)
    assert own_link.returncode == 1
    assert "short code" in _one_line(own_link.stderr)
    third = sam("invite", "--link", "--another-person", "--relay", relay.url)
    assert third.returncode == 0, third.stderr
    assert "they will read everything either of you shares" in third.stderr


# --- the recovery phrase, and a lost phone --------------------------------------------------------


def _phrase(cli: TendCLI) -> str:
    phrase = str(cli.json("recovery", "show")["phrase"])
    assert len(phrase.split()) == 24
    return phrase


def test_init_offers_the_phrase_and_it_is_shown_once_and_never_stored_in_plaintext(
    tmp_path: Path,
) -> None:
    cli = TendCLI(tmp_path / "robin")
    out = cli.ok("init", "--name", "Robin")
    assert "tend recovery show" in out  # no terminal: said where to find it, not shown
    phrase = _phrase(cli)
    for path in cli.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert phrase.encode() not in data
            assert phrase.split()[0].encode() + b" " + phrase.split()[1].encode() not in data
    again = cli("recovery", "show")
    assert again.returncode == 1
    assert "already" in _one_line(again.stderr)


def test_restoring_from_the_phrase_brings_back_everything_as_the_same_person(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    alex = TendCLI(tmp_path / "alex")
    pair(sam, alex, relay)
    phrase = _phrase(sam)
    # A key rotation before the loss (a retired tablet), so the restore must follow epochs.
    tablet = TendCLI(tmp_path / "tablet")
    pair(sam, tablet, relay, "--own-device", name=None)
    listed = sam.json("devices", "list")["devices"]
    mine = next(d for d in listed if d["this_device"])
    tablet_id = next(
        d["id"] for d in listed if d["person"] == mine["person"] and not d["this_device"]
    )
    sam.ok("devices", "remove", tablet_id)
    sam.ok("checkin", "--day", "rest", "--note", "only for me", "--private")
    sam.ok("milestone", "walked to the corner together")
    sam.ok("sync")
    alex.ok("sync")
    epoch = sam.json("devices", "list")["epoch"]
    assert epoch >= 2
    old_id = mine["id"]

    # The laptop is gone. On a new one, the phrase (from standard input) and the relay's URL.
    new = TendCLI(tmp_path / "sam-new")
    restored = subprocess.run(
        new.argv(
            "recovery",
            "restore",
            "--relay",
            relay.url,
            "--name-check",
            "Sam",
            "--device",
            "new laptop",
        ),
        input=phrase + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=tend_env(),
        check=False,
    )
    assert restored.returncode == 0, restored.stderr
    assert "Welcome back, Sam" in restored.stdout
    assert "were retired" in restored.stdout and old_id[:8] in restored.stdout
    assert "safety code" in restored.stdout  # Alex, to compare in person
    today = new.json("today")
    mine = next(p for p in today["people"] if p["name"] == "Sam")
    assert mine["checkin"]["fields"]["note"] == "only for me"  # private, and readable again
    assert any(
        m["fields"]["title"] == "walked to the corner together"
        for m in new.json("week")["milestones"]
    )

    # The restore retired the lost laptop (whoever holds it now reads nothing new); the partner
    # sees the same Sam with a new device, never a third person, and syncs with exit 0 and one
    # line about it.
    assert new.json("devices", "list")["epoch"] == epoch + 1
    synced = alex("sync")
    assert synced.returncode == 0, synced.stderr
    assert synced.stderr.count("removed") <= 1
    people = {d["person"] for d in alex.json("devices", "list")["devices"]}
    assert len(people) == 2
    sams = [d for d in alex.json("devices", "list")["devices"] if d["name"] == "Sam"]
    assert {d["label"] for d in sams if not d["removed"]} == {"new laptop"}
    for cli in (alex, new):
        assert cli.ok("verify").startswith("All ")
    assert alex("sync").stderr.count("A device was removed") == 0  # said once, not every time
    # A device that joins after the removals syncs the whole history with exit 0 too.
    phone = TendCLI(tmp_path / "sam-phone")
    pair(new, phone, relay, "--own-device", name=None)
    assert phone.ok("verify").startswith("All ")


def test_a_wrong_phrase_is_refused_in_one_line_and_makes_no_journal(
    tmp_path: Path, relay: Relay
) -> None:
    new = TendCLI(tmp_path / "new")
    words = ["abandon"] * 23 + ["zoo"]
    result = subprocess.run(
        new.argv("recovery", "restore", "--relay", relay.url),
        input=" ".join(words) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=tend_env(),
        check=False,
    )
    assert result.returncode == 1
    assert "phrase" in _one_line(result.stderr)
    assert not (new.home / "device.tend").exists()


# --- a person who lost everything -----------------------------------------------------------------


def test_without_phrase_or_device_a_new_identity_comes_in_once_the_partner_removed_the_old(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    old = TendCLI(tmp_path / "alex")
    pair(sam, old, relay)
    old.ok("gratitude", "for the walk")
    old.ok("sync")
    sam.ok("sync")
    old_id = next(x for x in _device_lines(sam) if "Alex" in x).split()[0]

    out = sam.ok("invite", "--link", "--replacing", old_id, "--relay", relay.url)
    link = LINK.search(out)
    assert link
    new = TendCLI(tmp_path / "alex-new")
    new.ok("join", link.group(1), "--name", "Alex")
    held = sam("sync")  # the newcomer waits until the old devices are removed
    assert held.returncode == 0 and "once every old device" in held.stderr, held.stderr
    line = next(x for x in _device_lines(sam) if x.startswith(old_id[:8]))
    assert "lost" in line
    sam.ok("devices", "remove", old_id)
    synced = sam("sync")
    assert synced.returncode == 0, synced.stderr
    assert "A device joined with your link" in synced.stdout
    new.ok("sync")
    for cli in (sam, new):
        line = next(x for x in _device_lines(cli) if x.startswith(old_id[:8]))
        assert "removed" in line
    # The old history stays, as history.
    assert any("for the walk" in str(g) for g in sam.json("week")["gratitude"])
    assert sam.ok("verify").startswith("All ")


def test_a_restore_whose_relay_goes_away_leaves_nothing_half_made_and_can_be_run_again(
    sam: TendCLI, tmp_path: Path, relay: Relay
) -> None:
    # A relay that hands over the recovery record and then goes away (every other request
    # fails): the restore says so in one line and leaves no journal behind, so running it
    # again, once the relay is back, brings everything back as usual.
    import asyncio
    import threading

    from aiohttp import web

    from tend.core.crypto import keys
    from tend.core.log import escrow
    from tend.core.trust import recovery as phrases
    from tend.sync import mailbox
    from tests.conftest import free_port

    sam.ok("sync", "--relay", relay.url)
    phrase = _phrase(sam)
    person = keys.PersonSecrets.from_root(phrases.root_of(phrase))
    blob = asyncio.run(mailbox.get_escrow(relay.url, escrow.locator_of(person.identity().encode())))
    assert blob is not None

    async def record(_request: web.Request) -> web.Response:
        return web.Response(body=blob, content_type="application/octet-stream")

    async def gone(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="going away")

    app = web.Application()
    app.router.add_get("/v1/recovery/{locator}", record)
    app.router.add_route("*", "/{tail:.*}", gone)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    new = TendCLI(tmp_path / "sam-new")

    def restore(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            new.argv("recovery", "restore", "--relay", url),
            input=phrase + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            env=tend_env(),
            check=False,
        )

    try:
        failed = restore(f"http://127.0.0.1:{port}")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert not (new.home / "device.tend").exists() and not (new.home / "journal.db").exists()
    again = restore(relay.url)
    assert again.returncode == 0, again.stderr
    assert "Welcome back, Sam" in again.stdout
