"""CSV import: a preview of what would be created, changed and deactivated, row-level
errors, nothing applied until confirmed, applied once; and the company admin's pages."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from budgets.models import Budget, BudgetPolicy
from companies.models import EmployeeGroup, User
from devices.models import DeviceStatus
from people.models import CsvImport, OffboardingCase, ScimToken
from people.services import csv_import
from tests.helpers import device_in

S = DeviceStatus

FILE = """email,full_name,external_id,cost_centre,groups,exit_date,active
nia@acme.example,Nia Joiner,E-1,CC-7,Engineering;Stockholm,,yes
{employee},Erin Employee,E-2,CC-2,,,yes
{colleague},Cole League,E-3,,,,no
not-an-address,Broken Row,E-4,,,,
leo@acme.example,Leo Late,E-5,,,31/01/2027,
{other},Someone Else,E-6,,,,
"""


def upload(acme, globex, text=None, **kwargs):
    text = FILE if text is None else text
    text = text.format(
        employee=acme.employee.email, colleague=acme.colleague.email, other=globex.employee.email
    )
    return csv_import.csv_preview(
        company=acme.company, file_name="staff.csv", raw=text.encode(), actor=acme.admin, **kwargs
    )


def by_line(preview):
    return {row["line"]: row for row in preview.plan["rows"]}


def test_the_preview_says_what_would_happen_and_changes_nothing(acme, globex):
    before = User.objects.count()
    preview = upload(acme, globex)
    rows = by_line(preview)
    assert rows[2]["action"] == "create" and rows[2]["name"] == "Nia Joiner"
    assert rows[3]["action"] == "update"
    assert "cost centre “” → “CC-2”" in rows[3]["changes"]
    assert rows[4]["action"] == "deactivate"
    assert rows[5]["action"] == "error" and "not an e-mail address" in rows[5]["errors"][0]
    assert rows[6]["action"] == "error" and "is not a date" in rows[6]["errors"][0]
    assert rows[7]["action"] == "error" and "another account" in rows[7]["errors"][0]
    assert preview.plan["counts"] == {"create": 1, "update": 1, "deactivate": 1, "error": 3}
    assert User.objects.count() == before
    acme.colleague.refresh_from_db()
    assert acme.colleague.directory_active and acme.employee.cost_centre == ""


def test_applying_creates_changes_and_deactivates_through_the_same_services(acme, globex):
    BudgetPolicy.objects.create(company=acme.company, allowance="1800.00", category="laptop")
    laptop = device_in(acme, S.ACTIVE, employee=acme.colleague)
    done = csv_import.csv_apply(import_id=upload(acme, globex).pk, actor=acme.admin)
    assert done.status == CsvImport.Status.APPLIED
    nia = User.objects.get(email="nia@acme.example")
    assert (nia.company, nia.external_id, nia.cost_centre, nia.provisioned_by) == (
        acme.company,
        "E-1",
        "CC-7",
        "csv",
    )
    assert set(nia.employee_groups.values_list("name", flat=True)) == {"Engineering", "Stockholm"}
    assert str(Budget.objects.get(employee=nia, category="laptop").allowance) == "1800.00"
    acme.employee.refresh_from_db()
    assert acme.employee.cost_centre == "CC-2"
    case = OffboardingCase.objects.get(employee=acme.colleague)
    assert list(case.items.values_list("device_id", flat=True)) == [laptop.pk]
    assert not User.objects.filter(email="leo@acme.example").exists()  # its row was in error
    assert globex.employee.company == globex.company


def test_applying_twice_changes_nothing_the_second_time(acme, globex):
    preview = upload(acme, globex)
    csv_import.csv_apply(import_id=preview.pk, actor=acme.admin)
    users, groups = User.objects.count(), EmployeeGroup.objects.count()
    csv_import.csv_apply(import_id=preview.pk, actor=acme.admin)
    assert (User.objects.count(), EmployeeGroup.objects.count()) == (users, groups)
    assert OffboardingCase.objects.count() == 1


def test_an_exit_date_in_the_past_opens_the_case_as_overdue(acme, globex):
    text = f"email,exit_date\n{acme.employee.email},2026-01-15\n"
    csv_import.csv_apply(import_id=upload(acme, globex, text).pk, actor=acme.admin)
    case = OffboardingCase.objects.get(employee=acme.employee)
    assert case.exit_date == date(2026, 1, 15) and case.is_open


def test_people_missing_from_a_full_export_are_deactivated_only_when_asked(acme, globex):
    text = f"email\n{acme.employee.email}\n"
    plain = by_line(upload(acme, globex, text))
    assert [r["action"] for r in plain.values()] == ["unchanged"]
    full = upload(acme, globex, text, deactivate_missing=True)
    missing = [r for r in full.plan["rows"] if r["line"] is None]
    assert [r["email"] for r in missing] == [acme.colleague.email]  # not the admin
    csv_import.csv_apply(import_id=full.pk, actor=acme.admin)
    acme.colleague.refresh_from_db()
    assert not acme.colleague.directory_active


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("name,phone\nA,1\n", "no email column"),
        ("email,shoe_size\na@acme.example,44\n", "Unknown column: shoe_size"),
        ("email\n", "no people"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(acme, globex, text, message):
    with pytest.raises(ValidationError, match=message):
        upload(acme, globex, text)
    assert not CsvImport.objects.exists()


def test_semicolons_and_a_spreadsheets_encoding_are_read(acme, globex):
    text = "E-mail;Full name;Cost center\r\nasa@acme.example;Åsa Öberg;CC-1\r\n"
    preview = csv_import.csv_preview(
        company=acme.company, file_name="x.csv", raw=text.encode("cp1252"), actor=acme.admin
    )
    assert by_line(preview)[2]["name"] == "Åsa Öberg"


def test_only_the_companys_admin_previews_or_applies(acme, globex):
    with pytest.raises(ValidationError):
        csv_import.csv_preview(
            company=acme.company,
            file_name="x.csv",
            raw=b"email\na@b.example\n",
            actor=acme.employee,
        )
    preview = upload(acme, globex)
    with pytest.raises(CsvImport.DoesNotExist):
        csv_import.csv_apply(import_id=preview.pk, actor=globex.admin)
    assert CsvImport.objects.get(pk=preview.pk).status == CsvImport.Status.PREVIEWED


# --- The admin pages -------------------------------------------------------------------------


def test_the_admin_uploads_previews_and_applies(login, acme, globex):
    client = login(acme.admin)
    page = client.get("/admin/people/csvimport/add/")
    assert page.status_code == 200 and "Nothing changes yet" in page.content.decode()
    text = FILE.format(
        employee=acme.employee.email, colleague=acme.colleague.email, other=globex.employee.email
    )
    answer = client.post(
        "/admin/people/csvimport/add/",
        {"file": SimpleUploadedFile("staff.csv", text.encode(), content_type="text/csv")},
    )
    assert answer.status_code == 302
    preview = client.get(answer["Location"]).content.decode()
    assert "Preview: nothing has changed yet." in preview
    assert "Nia Joiner" in preview and "is not an e-mail address" in preview
    assert "3 rows with errors will be skipped" in preview and "Apply 3 changes" in preview
    imported = CsvImport.objects.get()
    done = client.post(f"/admin/people/csvimport/{imported.pk}/apply/", follow=True)
    assert "is applied" in done.content.decode()
    assert User.objects.filter(email="nia@acme.example").exists()
    # another company's admin sees nothing of it
    other = login(globex.admin).get(f"/admin/people/csvimport/{imported.pk}/change/")
    assert other.status_code == 404


def test_a_bad_file_is_shown_on_the_form(login, acme):
    answer = login(acme.admin).post(
        "/admin/people/csvimport/add/",
        {"file": SimpleUploadedFile("x.csv", b"name\nA\n", content_type="text/csv")},
    )
    assert answer.status_code == 200 and "no email column" in answer.content.decode()


def test_a_scim_token_is_shown_once_and_stored_as_a_hash(login, acme):
    client = login(acme.admin)
    made = client.post("/admin/people/scimtoken/add/", {"name": "Microsoft Entra"}).content
    raw = re.search(rb'value="(vscim_[\w-]+)"', made).group(1).decode()
    token = ScimToken.objects.get()
    assert token.token_hash != raw and raw not in str(ScimToken.objects.values().get())
    again = client.get(f"/admin/people/scimtoken/{token.pk}/change/").content.decode()
    assert raw not in again and token.prefix in again
    listing = client.get("/admin/people/scimtoken/").content.decode()
    assert raw not in listing
    client.post(f"/admin/people/scimtoken/{token.pk}/act/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_person_made_in_the_admin_is_a_joiner(login, acme):
    BudgetPolicy.objects.create(company=acme.company, allowance="900.00", category="phone")
    answer = login(acme.admin).post(
        "/admin/companies/user/add/",
        {
            "email": "new@acme.example",
            "full_name": "New Person",
            "role": "employee",
            "cost_centre": "CC-1",
            "is_active": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    person = User.objects.get(email="new@acme.example")
    assert person.company == acme.company and person.cost_centre == "CC-1"
    assert str(Budget.objects.get(employee=person).allowance) == "900.00"
    from notifications.models import Notification

    assert Notification.objects.filter(kind="welcome", recipient=person).exists()
