"""The web console in headless Chromium against a live service: enrol, identify, verify, gallery health, delete,
and keys, with real LFW photos; each step checks what the page says and saves a screenshot."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.conftest import lfw_image
from tests.service.api.helpers import GREY, lfw, side_by_side
from tests.service.ui.conftest import ADMIN_KEY


def _open(browser, console_url: str) -> tuple[Page, list[str]]:
    """A page on the console with the admin key entered; the list collects uncaught script errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{console_url}/")
    expect(page).to_have_url(re.compile(r"/ui/"))
    expect(page.locator("#key-status")).to_have_text("enter a key")
    page.fill("#key-input", ADMIN_KEY)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-status")).to_have_text("admin key")
    return page, errors


def _go(page: Page, tab: str) -> None:
    page.locator("#nav a", has_text=tab).click()
    expect(page.locator("#page h1")).to_be_visible()


def _accept_next_dialog(page: Page, expected: str) -> None:
    def accept(dialog: Dialog) -> None:
        assert expected in dialog.message, dialog.message
        dialog.accept()

    page.once("dialog", accept)


def _create(page: Page, name: str) -> None:
    page.fill("#page input[placeholder=Name]", name)
    page.click("#page button:has-text('Create identity')")
    expect(page.locator(".detail h2")).to_have_text(name)


def _enrol(page: Page, files: list[Path], summary: str) -> None:
    page.set_input_files(".detail input[name=images]", [str(path) for path in files])
    page.locator(".detail button", has_text="Enrol").click()
    expect(page.locator(".detail .enrol > div > div > .notice").first).to_have_text(summary)


def _identify(page: Page, photo: Path, all_faces: bool = False) -> None:
    page.set_input_files("#page input[name=image]", str(photo))
    page.locator("#page input[name=all_faces]").set_checked(all_faces)
    page.click("#page button:has-text('Identify')")


def _verify(page: Page, a: Path, b: Path) -> None:
    page.set_input_files("#page input[name=image_a]", str(a))
    page.set_input_files("#page input[name=image_b]", str(b))
    page.click("#page button:has-text('Compare')")


def test_a_walk_through_enrol_identify_verify_health_and_delete(browser, console_url: str, screenshots: Path,
                                                                 tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    grey.write_bytes(GREY)
    group = tmp_path / "three_people.png"  # Hans Blix, Jennifer Garner and someone never enrolled
    group.write_bytes(side_by_side(lfw("Hans_Blix", 18), lfw("Jennifer_Garner", 8), lfw("George_W_Bush", 7)))
    page, errors = _open(browser, console_url)

    # enrol: per-image results, a rejection with its reason
    _go(page, "Identities")
    _create(page, "Hans Blix")
    _enrol(page, [lfw_image("Hans_Blix", 7), lfw_image("Hans_Blix", 8), grey], "2 enrolled, 1 rejected.")
    expect(page.locator(".results li.rejected")).to_contain_text("no_face")
    expect(page.locator(".faces figure")).to_have_count(2)
    _create(page, "Jennifer Garner")
    _enrol(page, [lfw_image("Jennifer_Garner", 1), lfw_image("Jennifer_Garner", 3)], "2 enrolled, 0 rejected.")
    # a photo of Hans enrolled under Jennifer: the enrolment result warns
    _enrol(page, [lfw_image("Hans_Blix", 24)], "1 enrolled, 0 rejected.")
    expect(page.locator(".results .notice.warn")).to_contain_text("Hans Blix")
    page.screenshot(path=screenshots / "identities.png", full_page=True)

    # gallery health: Sep over the two identities, and the mis-enrolled face singled out
    _go(page, "Gallery health")
    expect(page.locator(".stats")).to_contain_text("Sep, mean over identities")
    stray = page.locator("li.stray")
    expect(stray).to_have_count(1)
    expect(stray).to_contain_text("of Jennifer Garner is nearer Hans Blix")
    expect(page.locator("li.pair-row")).to_contain_text("Hans Blix and Jennifer Garner")
    page.screenshot(path=screenshots / "health.png", full_page=True)
    face_id = re.search(r"Face (\d+) of", stray.inner_text()).group(1)

    # delete that face from Jennifer's faces grid (with confirmation); the gallery is clean again
    stray.get_by_role("link", name="Jennifer Garner").click()
    expect(page.locator(".faces figure")).to_have_count(3)
    _accept_next_dialog(page, f"Delete face {face_id} of Jennifer Garner")
    page.locator(".faces figure", has_text=f"face {face_id}").get_by_role("button", name="Delete").click()
    expect(page.locator(".faces figure")).to_have_count(2)
    _go(page, "Gallery health")
    expect(page.locator("#page")).to_contain_text("Every face is nearer its own identity")

    # identify: a photo of Hans that was not enrolled, then every face of a group photo
    _go(page, "Identify")
    _identify(page, lfw_image("Hans_Blix", 9))
    answer = page.locator(".answer")
    expect(answer.locator(".notice")).to_contain_text("Hans Blix.")
    expect(answer.locator(".candidates li.matched")).to_contain_text("Hans Blix")
    expect(answer.locator(".candidates li")).to_have_count(2)
    expect(answer.locator(".candidates li img.crop").first).to_have_attribute("src", re.compile("^blob:"))
    _identify(page, group, all_faces=True)
    expect(page.locator(".answer")).to_have_count(3)
    answers = page.locator(".answer .probe .notice")
    expect(answers.filter(has_text="Hans Blix.")).to_have_count(1)
    expect(answers.filter(has_text="Jennifer Garner.")).to_have_count(1)
    expect(answers.filter(has_text="No match.")).to_contain_text("probably not enrolled")
    page.screenshot(path=screenshots / "identify.png", full_page=True)

    # verify: the decision in words, each face's aligned crop
    _go(page, "Verify")
    _verify(page, lfw_image("Hans_Blix", 9), lfw_image("Jennifer_Garner", 3))
    expect(page.locator(".verdict")).to_contain_text("Different people.")
    _verify(page, lfw_image("Hans_Blix", 9), grey)  # the error says which image and why
    expect(page.locator(".verdict .notice.error")).to_contain_text("image_b")
    expect(page.locator(".verdict .notice.error code")).to_have_text("no_face")
    _verify(page, lfw_image("Hans_Blix", 9), lfw_image("Hans_Blix", 8))
    expect(page.locator(".verdict")).to_contain_text("Same person.")
    expect(page.locator(".aligned img.crop")).to_have_count(2)
    page.screenshot(path=screenshots / "verify.png", full_page=True)
    # a stricter decision, named by its false-accept rate: a pair that passes at the default (score 0.01) no
    # longer does
    _verify(page, lfw_image("Hans_Blix", 9), lfw_image("Hans_Blix", 7))
    expect(page.locator(".verdict")).to_contain_text("Same person.")
    page.select_option("#page select[name=far]", "0.0001")
    page.click("#page button:has-text('Compare')")
    expect(page.locator(".verdict")).to_contain_text("Different people.")
    expect(page.locator(".verdict")).to_contain_text("about 1 impostor in 10,000")

    # delete an identity (with confirmation): gone from the list, and no longer identified
    _go(page, "Identities")
    page.locator(".listing a", has_text="Hans Blix").click()
    _accept_next_dialog(page, "Delete Hans Blix and 2 enrolled face(s)?")
    page.click(".detail button:has-text('Delete identity')")
    expect(page.locator(".listing tbody tr")).to_have_count(1)
    expect(page.locator(".listing")).not_to_contain_text("Hans Blix")
    _go(page, "Identify")
    _identify(page, lfw_image("Hans_Blix", 9))
    expect(page.locator(".answer .notice")).to_contain_text("No match.")
    expect(page.locator(".answer .candidates li")).to_have_count(1)
    assert errors == []


def test_keys_are_listed_created_shown_once_and_revoked(browser, console_url: str, screenshots: Path) -> None:
    page, errors = _open(browser, console_url)
    _go(page, "Keys")
    rows = page.locator("#page tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("(this browser)")
    page.fill("#page input[name=name]", "front desk kiosk")
    page.select_option("#page select[name=role]", "client")
    page.click("#page button:has-text('Create key')")
    expect(page.locator("#page .notice.ok")).to_contain_text("New client key “front desk kiosk”")
    new_key = page.locator("#page code.secret").inner_text()
    assert new_key.startswith("fv_")
    expect(rows).to_have_count(2)
    page.screenshot(path=screenshots / "keys.png", full_page=True)
    kiosk = rows.filter(has_text="front desk kiosk")
    _accept_next_dialog(page, "Revoke key")
    kiosk.get_by_role("button", name="Revoke").click()
    expect(kiosk).to_contain_text("revoked")
    # the last admin key is kept: the page says why instead of locking everyone out
    _accept_next_dialog(page, "Revoke key")
    rows.filter(has_text="admin").get_by_role("button", name="Revoke").click()
    expect(page.locator("#page .notice.error")).to_contain_text("last admin key")

    # the revoked key is refused; a client key is told that keys need an admin key
    page.fill("#page input[name=name]", "reader")
    page.click("#page button:has-text('Create key')")
    expect(page.locator("#page .notice.ok")).to_contain_text("New client key “reader”")
    reader_key = page.locator("#page code.secret").inner_text()
    page.fill("#key-input", new_key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-status")).to_have_text("key not accepted")
    page.fill("#key-input", reader_key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-status")).to_have_text("client key")
    expect(page.locator("#page")).to_contain_text("Managing keys needs an admin key.")
    # the identities page shows a client key what it may do, not buttons it would be refused
    page.locator("#nav a", has_text="Identities").click()
    expect(page.locator("#page")).to_contain_text("need an admin key")
    expect(page.locator("#page button:has-text('Create identity')")).to_be_hidden()
    assert errors == []
