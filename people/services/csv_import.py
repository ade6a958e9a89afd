"""CSV import, for companies without a directory to provision from: the file is read into a
preview first (who would be created, changed and deactivated, and each row in error), and
only a confirmed preview is applied, once, through the same services as SCIM.

Columns (a header row; names are matched case-insensitively, in any order; only ``email``
is required): email, full_name (or name), external_id, cost_centre, job_title, phone,
groups (separated by ";"), exit_date (YYYY-MM-DD), active (yes/no)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from companies.models import Company, EmployeeGroup, User
from core.tenancy import acts_as_company_admin
from core.transactions import use_case

from ..models import CsvImport
from . import provisioning as people

# Bounds of one file: a company bigger than this provisions by SCIM.
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
ALIASES = {
    "email": "email",
    "e-mail": "email",
    "email address": "email",
    "full_name": "full_name",
    "full name": "full_name",
    "name": "full_name",
    "external_id": "external_id",
    "employee id": "external_id",
    "employee_id": "external_id",
    "cost_centre": "cost_centre",
    "cost center": "cost_centre",
    "cost_center": "cost_centre",
    "cost centre": "cost_centre",
    "job_title": "job_title",
    "title": "job_title",
    "phone": "phone",
    "groups": "groups",
    "exit_date": "exit_date",
    "exit date": "exit_date",
    "leaver_date": "exit_date",
    "active": "active",
}
YES = {"", "yes", "y", "true", "1", "active"}
NO = {"no", "n", "false", "0", "inactive", "left"}


class CsvRefused(ValidationError):
    """The file as a whole cannot be read (not CSV, no e-mail column, too big)."""


@dataclass
class Row:
    line: int
    spec: people.PersonSpec | None
    groups: list[str] | None
    errors: list[str]


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise CsvRefused(
            _("The file is over %(megabytes)s MB: split it.")
            % {"megabytes": MAX_BYTES // (1024 * 1024)}
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CsvRefused(_("The file is not text: export it from your spreadsheet as CSV (UTF-8)."))


def read_rows(text: str) -> tuple[list[str], list[Row]]:
    """The header and every data row, each with its errors (nothing is looked up here)."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvRefused(_("The file is empty.")) from None
    columns = [ALIASES.get(h.strip().lower()) for h in header]
    unknown = [h for h, c in zip(header, columns, strict=True) if c is None and h.strip()]
    if "email" not in columns:
        raise CsvRefused(_("The file has no email column (the first row names the columns)."))
    if unknown:
        # Translators: %(columns)s are the file's column names Velory does not know;
        # %(known)s the column names it reads (email, full_name, …), which stay as they are.
        raise CsvRefused(
            ngettext(
                "Unknown column: %(columns)s. Use: %(known)s.",
                "Unknown columns: %(columns)s. Use: %(known)s.",
                len(unknown),
            )
            % {"columns": ", ".join(unknown), "known": ", ".join(sorted(set(ALIASES.values())))}
        )
    rows, seen = [], {}
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise CsvRefused(
                _("The file has over %(rows)s rows: split it.")
                % {"rows": number_format(MAX_ROWS, force_grouping=True)}
            )
        cells = {c: v.strip() for c, v in zip(columns, values, strict=False) if c}
        rows.append(_row(number, cells, seen))
    return header, rows


def _row(line: int, cells: dict, seen: dict) -> Row:
    errors = []
    email = people.normalized(cells.get("email", ""))
    try:
        validate_email(email)
    except ValidationError:
        errors.append(
            _("“%(email)s” is not an e-mail address.") % {"email": cells.get("email", "")}
        )
    if email and email in seen:
        # Translators: a CSV row's e-mail address appears on an earlier row (its number).
        errors.append(_("%(email)s is also on row %(row)s.") % {"email": email, "row": seen[email]})
    seen.setdefault(email, line)
    exit_date = people.UNSET
    if "exit_date" in cells:
        raw = cells["exit_date"]
        try:
            exit_date = date.fromisoformat(raw) if raw else None
        except ValueError:
            errors.append(
                _("Exit date “%(value)s” is not a date (use YYYY-MM-DD).") % {"value": raw}
            )
    active = cells.get("active", "").lower()
    if active not in YES | NO:
        # Translators: "Active" is the CSV column (active); "yes or no" are the values the
        # column takes (in English, or the other words Velory reads: y/n, true/false, 1/0).
        errors.append(_("Active “%(value)s” is not yes or no.") % {"value": cells["active"]})
    groups = None
    if "groups" in cells:
        groups = sorted({g.strip() for g in cells["groups"].split(";") if g.strip()})
    spec = people.PersonSpec(
        email=email,
        full_name=cells.get("full_name", ""),
        external_id=cells.get("external_id") or None,
        active=active not in NO,
        job_title=cells.get("job_title"),
        phone=cells.get("phone"),
        cost_centre=cells.get("cost_centre"),
        exit_date=exit_date,
    )
    return Row(line, None if errors else spec, groups, errors)


def _changes(user: User, spec: people.PersonSpec, groups: list[str] | None, have: set) -> list:
    """What applying the row would change, in words (nothing is written)."""
    # Translators: the changes a CSV row makes to a person, shown in the import's preview
    # (joined with "; "): the old value, then the new one.
    changes = []
    if spec.email != user.email:
        changes.append(_("e-mail %(old)s → %(new)s") % {"old": user.email, "new": spec.email})
    for name, label in (
        ("full_name", _("name “%(old)s” → “%(new)s”")),
        ("job_title", _("job title “%(old)s” → “%(new)s”")),
        ("phone", _("phone “%(old)s” → “%(new)s”")),
        ("cost_centre", _("cost centre “%(old)s” → “%(new)s”")),
        ("external_id", _("directory ID “%(old)s” → “%(new)s”")),
    ):
        value = getattr(spec, name)
        if value is not None and value != getattr(user, name) and (name != "full_name" or value):
            changes.append(label % {"old": getattr(user, name), "new": value})
    if spec.exit_date is not people.UNSET and spec.exit_date != user.leaver_date:
        changes.append(
            _("exit date %(date)s") % {"date": f"{spec.exit_date:%Y-%m-%d}"}
            if spec.exit_date
            else _("exit date cleared")
        )
    if groups is not None and set(groups) != have:
        changes.append(
            _("groups: %(groups)s") % {"groups": ", ".join(groups)} if groups else _("groups: none")
        )
    return changes


def _plan(company: Company, rows: list[Row], *, deactivate_missing: bool) -> dict:
    people_by_email = {u.email: u for u in User.objects.filter(company=company)}
    by_external = {u.external_id: u for u in people_by_email.values() if u.external_id}
    groups_of = {}
    for user_id, name in EmployeeGroup.members.through.objects.filter(
        employeegroup__company=company
    ).values_list("user_id", "employeegroup__name"):
        groups_of.setdefault(user_id, set()).add(name)
    elsewhere = set(
        User.objects.exclude(company=company)
        .filter(email__in=[r.spec.email for r in rows if r.spec])
        .values_list("email", flat=True)
    )
    entries, listed = [], set()
    for row in rows:
        entry = {"line": row.line, "errors": list(row.errors)}
        spec = row.spec
        if spec is None:
            entries.append({**entry, "action": "error"})
            continue
        entry["email"] = spec.email
        user = by_external.get(spec.external_id or "") or people_by_email.get(spec.email)
        if user is None and spec.email in elsewhere:
            entry["errors"].append(
                _("%(email)s is used by another account.") % {"email": spec.email}
            )
            entries.append({**entry, "action": "error"})
            continue
        if user is None:
            entry["action"] = "create" if spec.active else "error"
            if not spec.active:
                entry["errors"].append(_("A new person cannot be inactive."))
            entry["name"] = spec.full_name or spec.email
            entries.append(entry)
            continue
        listed.add(user.pk)
        entry["name"] = user.full_name
        changes = _changes(user, spec, row.groups, groups_of.get(user.pk, set()))
        if not spec.active and user.directory_active:
            entry["action"] = "deactivate"
        elif spec.active and not user.directory_active:
            entry["action"] = "reactivate"
        else:
            entry["action"] = "update" if changes else "unchanged"
        entry["changes"] = changes
        entries.append(entry)
    missing = []
    if deactivate_missing:
        missing = [
            {
                "line": None,
                "email": u.email,
                "name": u.full_name,
                "action": "deactivate",
                "changes": [_("not in the file")],
                "errors": [],
            }
            for u in people_by_email.values()
            if u.pk not in listed and u.directory_active and u.is_active and u.role == "employee"
        ]
    entries += missing
    counts = {}
    for entry in entries:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    return {"rows": entries, "counts": counts, "deactivate_missing": deactivate_missing}


def csv_preview(
    *, company: Company, file_name: str, raw: bytes, actor, deactivate_missing: bool = False
) -> CsvImport:
    """Read the file and store what applying it would do; nothing about anybody changes.
    A file that cannot be read at all is refused (``CsvRefused``) and nothing is stored."""
    if not acts_as_company_admin(actor, company.pk):
        raise ValidationError(_("Only the company's admins import people."))
    text = _decode(raw)
    _header, rows = read_rows(text)
    if not rows:
        raise CsvRefused(_("The file has a header but no people."))
    return CsvImport.objects.create(
        company=company,
        file_name=file_name[:200],
        content=text,
        plan=_plan(company, rows, deactivate_missing=deactivate_missing),
        uploaded_by=actor,
    )


@use_case
def csv_apply(*, import_id: int, actor) -> CsvImport:
    """Apply a previewed import: its rows without errors, through the provisioning
    services (source "csv"). Applied once: a second click (or a retry) changes nothing."""
    upload = CsvImport.objects.visible_to(actor).select_for_update().get(pk=import_id)
    if not acts_as_company_admin(actor, upload.company_id):
        raise ValidationError(_("Only the company's admins import people."))
    if upload.status == CsvImport.Status.APPLIED:
        return upload
    company = upload.company
    _header, rows = read_rows(upload.content)
    planned = {e["line"]: e for e in upload.plan["rows"] if e["line"] is not None}
    results = []
    for row in rows:
        entry = planned.get(row.line, {})
        if row.spec is None or entry.get("action") in (None, "error"):
            continue
        outcome = people.person_provision(company=company, spec=row.spec, actor=actor, source="csv")
        if row.groups is not None:
            _set_groups(company, outcome.user, row.groups, actor)
        results.append(outcome.user.pk)
    for entry in upload.plan["rows"]:
        if entry["line"] is None and entry["action"] == "deactivate":
            user = User.objects.filter(company=company, email=entry["email"]).first()
            if user is not None:
                people.person_deactivate(user_id=user.pk, actor=actor)
    upload.status, upload.applied_at, upload.applied_by = (
        CsvImport.Status.APPLIED,
        timezone.now(),
        actor,
    )
    upload.save(update_fields=["status", "applied_at", "applied_by"])
    return upload


def _set_groups(company: Company, user: User, names: list[str], actor) -> None:
    groups = {g.name: g for g in EmployeeGroup.objects.filter(company=company)}
    wanted = set()
    for name in names:
        group = groups.get(name) or people.group_provision(company=company, name=name, actor=actor)
        groups[name] = group
        wanted.add(group.pk)
    for group in groups.values():
        member = group.members.filter(pk=user.pk).exists()
        if group.pk in wanted and not member:
            people.group_members_set(company=company, group_id=group.pk, actor=actor, add=[user.pk])
        elif group.pk not in wanted and member:
            people.group_members_set(
                company=company, group_id=group.pk, actor=actor, remove=[user.pk]
            )
