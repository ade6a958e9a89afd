"""SCIM 2.0 (RFC 7643, RFC 7644): the company's directory (Microsoft Entra, Okta) creates,
updates and deactivates its people and groups here, with a bearer token of the company.

Every lookup is scoped to the token's company: another company's person is a 404, an
address another account holds is a 409, and nothing is ever deleted (a DELETE or
``active: false`` makes the person a leaver; see ``people.services.provisioning``). The
views parse and answer; the services do every write."""

from __future__ import annotations

import json
import re
from datetime import date

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from companies.models import EmployeeGroup, User

from .actors import DirectoryActor
from .services import provisioning as people
from .services.tokens import scim_token_authenticate

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
VELORY = "urn:ietf:params:scim:schemas:extension:velory:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CONTENT_TYPE = "application/scim+json"
# A list answers at most this many resources a page (the directory pages through more).
MAX_PAGE = 200

# The attributes of the schemas Velory serves. Those it stores are read and written; the
# others (a directory's default mapping sends them) are accepted and ignored; anything
# else is refused with a 400, so a misconfigured mapping is seen at once.
USER_ATTRIBUTES = {
    "schemas", "id", "externalId", "userName", "name", "displayName", "nickName",
    "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone", "active",
    "password", "emails", "phoneNumbers", "ims", "photos", "addresses", "groups",
    "entitlements", "roles", "x509Certificates", "meta",
}  # fmt: skip
NAME_ATTRIBUTES = {
    "formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"
}  # fmt: skip
ENTERPRISE_ATTRIBUTES = {
    "employeeNumber", "costCenter", "organization", "division", "department", "manager"
}  # fmt: skip
VELORY_ATTRIBUTES = {"exitDate"}
GROUP_ATTRIBUTES = {"schemas", "id", "externalId", "displayName", "members", "meta"}


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str = ""):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def answer(body, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":")) if body is not None else b"",
        status=status,
        content_type=CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},  # people's details: never kept by a proxy
    )


def error_answer(error: ScimError) -> HttpResponse:
    body = {"schemas": [ERROR], "status": str(error.status), "detail": error.detail}
    if error.scim_type:
        body["scimType"] = error.scim_type
    response = answer(body, error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="Velory SCIM"'
    return response


def _truthy(value) -> bool:
    """SCIM booleans; Microsoft Entra sends "True"/"False" strings in PATCH values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ScimError(400, f"Not a boolean: {value!r}.", "invalidValue")


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ScimError(400, f"Not a date: {value!r} (use YYYY-MM-DD).", "invalidValue") from None


def _typed(values, kind: str = "work") -> str:
    """The value of the list entry of this type (or the primary one, or the first)."""
    if not isinstance(values, list):
        raise ScimError(400, "A multi-valued attribute must be a list.", "invalidValue")
    entries = [v for v in values if isinstance(v, dict)]
    for test in (lambda v: v.get("type") == kind, lambda v: v.get("primary"), lambda v: True):
        for v in entries:
            if test(v):
                return str(v.get("value") or "")
    return ""


# --- The User resource ---------------------------------------------------------------------


def user_resource(request, user: User) -> dict:
    first, _, last = user.full_name.partition(" ")
    body = {
        "schemas": [USER, ENTERPRISE, VELORY],
        "id": str(user.pk),
        "userName": user.email,
        "name": {"formatted": user.full_name, "givenName": first, "familyName": last},
        "displayName": user.full_name,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": user.directory_active,
        "groups": [{"value": str(g.pk), "display": g.name} for g in user.employee_groups.all()],
        ENTERPRISE: {"costCenter": user.cost_centre} if user.cost_centre else {},
        VELORY: {"exitDate": user.leaver_date.isoformat()} if user.leaver_date else {},
        "meta": {
            "resourceType": "User",
            "created": user.date_joined.isoformat(),
            "lastModified": user.date_joined.isoformat(),
            "location": request.build_absolute_uri(reverse("scim-user", args=[user.pk])),
        },
    }
    if user.external_id:
        body["externalId"] = user.external_id
    if user.job_title:
        body["title"] = user.job_title
    if user.phone:
        body["phoneNumbers"] = [{"value": user.phone, "type": "work"}]
    return body


def _check_known(payload: dict, known: set, where: str) -> None:
    for key in payload:
        if key not in known and key not in (ENTERPRISE, VELORY):
            raise ScimError(400, f"Unknown attribute {key!r} in {where}.", "invalidValue")
    for urn, allowed in ((ENTERPRISE, ENTERPRISE_ATTRIBUTES), (VELORY, VELORY_ATTRIBUTES)):
        ext = payload.get(urn, {})
        if not isinstance(ext, dict):
            raise ScimError(400, f"{urn} must be an object.", "invalidValue")
        for key in ext:
            if key not in allowed:
                raise ScimError(400, f"Unknown attribute {key!r} in {urn}.", "invalidValue")
    name = payload.get("name", {})
    if not isinstance(name, dict):
        raise ScimError(400, "name must be an object.", "invalidValue")
    for key in name:
        if key not in NAME_ATTRIBUTES:
            raise ScimError(400, f"Unknown attribute 'name.{key}'.", "invalidValue")


def _full_name(payload: dict) -> str:
    name = payload.get("name") or {}
    given = " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
    return str(name.get("formatted") or payload.get("displayName") or given or "").strip()


def spec_from(payload: dict, *, replace: bool) -> people.PersonSpec:
    """A person as a POST or PUT body describes them. PUT replaces: a profile attribute it
    leaves out is cleared (the exit date, Velory's own extension, only when it is named)."""
    _check_known(payload, USER_ATTRIBUTES, "User")
    user_name = str(payload.get("userName") or "").strip()
    if not user_name:
        raise ScimError(400, "userName is required.", "invalidValue")
    email = _typed(payload["emails"]) if payload.get("emails") else user_name
    try:
        validate_email(email)
    except ValidationError:
        raise ScimError(400, f"{email!r} is not an e-mail address.", "invalidValue") from None
    enterprise, velory = payload.get(ENTERPRISE, {}), payload.get(VELORY, {})
    blank = "" if replace else None
    phones = payload.get("phoneNumbers")
    return people.PersonSpec(
        email=email,
        full_name=_full_name(payload) or email.split("@")[0],
        external_id=str(payload["externalId"]) if payload.get("externalId") else blank,
        active=_truthy(payload.get("active", True)),
        job_title=str(payload["title"]) if payload.get("title") else blank,
        phone=_typed(phones) if phones else blank,
        cost_centre=str(enterprise["costCenter"]) if enterprise.get("costCenter") else blank,
        exit_date=_date(velory["exitDate"]) if "exitDate" in velory else people.UNSET,
    )


# The PATCH paths Velory stores, and how each maps onto the working copy of the person.
PATH_ALIASES = {
    "username": "userName",
    "displayname": "displayName",
    "name.formatted": "displayName",
    "name.givenname": "givenName",
    "name.familyname": "familyName",
    "title": "title",
    "externalid": "externalId",
    "active": "active",
    'emails[type eq "work"].value': "email",
    "emails": "emails",
    'phonenumbers[type eq "work"].value': "phone",
    "phonenumbers": "phones",
    f"{ENTERPRISE}:costcenter".lower(): "costCenter",
    f"{VELORY}:exitdate".lower(): "exitDate",
}
# Paths of the schemas Velory serves that it does not store: accepted, ignored.
IGNORED_PATH = re.compile(
    r"^(nickname|profileurl|usertype|preferredlanguage|locale|timezone|password|ims|photos"
    r"|addresses|entitlements|roles|x509certificates|name\.(middlename|honorific\w+)"
    r"|(addresses|phonenumbers|emails)\[type eq \"\w+\"\](\.\w+)?"
    + "|"
    + re.escape(ENTERPRISE.lower())
    + r":(employeenumber|organization|division|department|manager(\.value)?))$"
)


def _working_copy(user: User) -> dict:
    first, _, last = user.full_name.partition(" ")
    return {
        "userName": user.email,
        "email": "",
        "displayName": user.full_name,
        "givenName": first,
        "familyName": last,
        "title": user.job_title,
        "externalId": user.external_id,
        "active": user.directory_active,
        "phone": user.phone,
        "costCenter": user.cost_centre,
        "exitDate": people.UNSET,
        "_names": set(),
    }


def _set(copy: dict, path: str, value, op: str) -> None:
    key = PATH_ALIASES.get(path.lower())
    if key is None:
        if IGNORED_PATH.match(path.lower()):
            return
        raise ScimError(400, f"Unknown attribute path {path!r}.", "invalidPath")
    if op == "remove":
        value = False if key == "active" else None
    if key == "active":
        copy["active"] = _truthy(value)
    elif key == "exitDate":
        copy["exitDate"] = _date(value)
    elif key == "emails":
        copy["email"] = _typed(value) if value else ""
    elif key == "phones":
        copy["phone"] = _typed(value) if value else ""
    else:
        copy[key] = "" if value is None else str(value)
        if key in ("displayName", "givenName", "familyName"):
            copy["_names"].add(key)


def _set_object(copy: dict, value: dict, op: str) -> None:
    """A PATCH without a path: its value names attributes (nested, or dotted, or under an
    extension's URN), as Okta and Entra both send them."""
    for key, item in value.items():
        if key in (ENTERPRISE, VELORY) and isinstance(item, dict):
            for sub, subvalue in item.items():
                _set(copy, f"{key}:{sub}", subvalue, op)
        elif key == "name" and isinstance(item, dict):
            for sub, subvalue in item.items():
                _set(copy, f"name.{sub}", subvalue, op)
        elif key in ("id", "schemas", "meta"):
            continue
        else:
            _set(copy, key, item, op)


def _operations(payload: dict) -> list[dict]:
    if PATCH not in (payload.get("schemas") or []):
        raise ScimError(400, f"A PATCH body names the schema {PATCH}.", "invalidSyntax")
    ops = payload.get("Operations")
    if not isinstance(ops, list) or not ops:
        raise ScimError(400, "A PATCH body has a list of Operations.", "invalidSyntax")
    for op in ops:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() not in (
            "add",
            "replace",
            "remove",
        ):
            raise ScimError(400, "Each operation is add, replace or remove.", "invalidSyntax")
    return ops


def spec_patched(user: User, payload: dict) -> people.PersonSpec:
    copy = _working_copy(user)
    for op in _operations(payload):
        kind, path, value = str(op["op"]).lower(), op.get("path"), op.get("value")
        if path:
            _set(copy, str(path), value, kind)
        elif isinstance(value, dict) and kind != "remove":
            _set_object(copy, value, kind)
        else:
            raise ScimError(400, "An operation without a path has an object value.", "noTarget")
    full_name = user.full_name
    if "displayName" in copy["_names"]:
        full_name = copy["displayName"]
    elif copy["_names"] & {"givenName", "familyName"}:
        full_name = " ".join(p for p in (copy["givenName"], copy["familyName"]) if p)
    email = copy["email"] or copy["userName"]
    try:
        validate_email(email)
    except ValidationError:
        raise ScimError(400, f"{email!r} is not an e-mail address.", "invalidValue") from None
    return people.PersonSpec(
        email=email,
        full_name=full_name.strip() or user.full_name,
        external_id=copy["externalId"],
        active=copy["active"],
        job_title=copy["title"],
        phone=copy["phone"],
        cost_centre=copy["costCenter"],
        exit_date=copy["exitDate"],
    )


# --- Filters -------------------------------------------------------------------------------

FILTER = re.compile(r'^\s*([\w.:\[\]"]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
USER_FILTERS = {
    "username": "email__iexact",
    "externalid": "external_id",
    'emails[type eq "work"].value': "email__iexact",
    "emails.value": "email__iexact",
    "id": "pk",
}
GROUP_FILTERS = {"displayname": "name", "externalid": "external_id", "id": "pk"}


def parse_filter(text: str, allowed: dict) -> dict:
    """``attribute eq "value"``, the filters directories send; others are a 400."""
    match = FILTER.match(text or "")
    if not match or match.group(1).lower() not in allowed:
        raise ScimError(
            400,
            f'Unsupported filter {text!r}: use {" or ".join(allowed)} eq "value".',
            "invalidFilter",
        )
    field, value = allowed[match.group(1).lower()], match.group(2).replace('\\"', '"')
    if field == "pk" and not value.isdigit():
        return {"pk": -1}
    return {field: value}


def _page(request) -> tuple[int, int]:
    try:
        start = max(int(request.GET.get("startIndex", 1)), 1)
        count = min(max(int(request.GET.get("count", 100)), 0), MAX_PAGE)
    except ValueError:
        raise ScimError(400, "startIndex and count are numbers.", "invalidValue") from None
    return start, count


def list_answer(resources: list, total: int, start: int) -> HttpResponse:
    return answer(
        {
            "schemas": [LIST],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


# --- Views ---------------------------------------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class ScimView(View):
    """Bearer-token authentication, JSON parsing and SCIM errors for every endpoint. The
    token is the only credential: no session cookie is read or set, so no CSRF either."""

    def dispatch(self, request, *args, **kwargs):
        try:
            header = request.headers.get("Authorization", "")
            raw = header[7:].strip() if header[:7].lower() == "bearer " else ""
            token = scim_token_authenticate(raw)
            if token is None:
                raise ScimError(401, "A valid bearer token of the company is required.")
            self.company = token.company
            self.actor = DirectoryActor(token.company_id, f"Directory ({token.name}, SCIM)")
            if request.method.lower() not in self.http_method_names or not hasattr(
                self, request.method.lower()
            ):
                raise ScimError(405, f"{request.method} is not supported here.")
            return super().dispatch(request, *args, **kwargs)
        except ScimError as error:
            return error_answer(error)
        except ObjectDoesNotExist:
            return error_answer(ScimError(404, "No such resource."))
        except people.AddressTaken as taken:
            return error_answer(ScimError(409, taken.messages[0], "uniqueness"))
        except IntegrityError:
            return error_answer(ScimError(409, "That resource exists already.", "uniqueness"))
        except ValidationError as invalid:
            return error_answer(ScimError(400, " ".join(invalid.messages), "invalidValue"))

    def body(self) -> dict:
        try:
            payload = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ScimError(400, "The body is not JSON.", "invalidSyntax") from None
        if not isinstance(payload, dict):
            raise ScimError(400, "The body is a JSON object.", "invalidSyntax")
        return payload

    def people(self):
        return User.objects.filter(company=self.company).prefetch_related(
            Prefetch("employee_groups", queryset=EmployeeGroup.objects.only("pk", "name"))
        )

    def groups(self):
        return EmployeeGroup.objects.filter(company=self.company)


class Users(ScimView):
    def get(self, request):
        start, count = _page(request)
        qs = self.people().order_by("pk")
        if request.GET.get("filter"):
            qs = qs.filter(**parse_filter(request.GET["filter"], USER_FILTERS))
        total = qs.count()
        page = list(qs[start - 1 : start - 1 + count]) if count else []
        return list_answer([user_resource(request, u) for u in page], total, start)

    def post(self, request):
        spec = spec_from(self.body(), replace=False)
        if people.person_find(self.company, external_id=spec.external_id, email=spec.email):
            raise ScimError(409, f"{spec.email} is provisioned already.", "uniqueness")
        with transaction.atomic():
            outcome = people.person_provision(
                company=self.company, spec=spec, actor=self.actor, source="scim"
            )
        return answer(user_resource(request, self.people().get(pk=outcome.user.pk)), 201)


class UserDetail(ScimView):
    def get(self, request, pk):
        return answer(user_resource(request, self.people().get(pk=pk)))

    def put(self, request, pk):
        user = self.people().get(pk=pk)
        spec = spec_from(self.body(), replace=True)
        with transaction.atomic():
            people.person_update(user_id=user.pk, spec=spec, actor=self.actor, company=self.company)
        return answer(user_resource(request, self.people().get(pk=pk)))

    def patch(self, request, pk):
        user = self.people().get(pk=pk)
        spec = spec_patched(user, self.body())
        with transaction.atomic():
            people.person_update(user_id=user.pk, spec=spec, actor=self.actor, company=self.company)
        return answer(user_resource(request, self.people().get(pk=pk)))

    def delete(self, request, pk):
        user = self.people().get(pk=pk)
        people.person_deactivate(user_id=user.pk, actor=self.actor)
        return answer(None, 204)


def group_resource(request, group: EmployeeGroup, *, members: bool = True) -> dict:
    body = {
        "schemas": [GROUP],
        "id": str(group.pk),
        "displayName": group.name,
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.isoformat(),
            "lastModified": group.created_at.isoformat(),
            "location": request.build_absolute_uri(reverse("scim-group", args=[group.pk])),
        },
    }
    if group.external_id:
        body["externalId"] = group.external_id
    if members:
        body["members"] = [
            {"value": str(u.pk), "display": u.full_name} for u in group.members.all()
        ]
    return body


def _member_ids(value) -> list[int]:
    if not isinstance(value, list):
        value = [value]
    ids = []
    for member in value:
        raw = member.get("value") if isinstance(member, dict) else member
        if not str(raw).isdigit():
            raise ScimError(400, f"No such member: {raw!r}.", "invalidValue")
        ids.append(int(raw))
    return ids


MEMBER_PATH = re.compile(r'^members\[value eq "(\d+)"\]$', re.IGNORECASE)


class Groups(ScimView):
    def get(self, request):
        start, count = _page(request)
        qs = self.groups().order_by("pk")
        if request.GET.get("filter"):
            qs = qs.filter(**parse_filter(request.GET["filter"], GROUP_FILTERS))
        members = "members" not in request.GET.get("excludedAttributes", "")
        if members:
            qs = qs.prefetch_related(Prefetch("members", queryset=User.objects.only("full_name")))
        total = qs.count()
        page = list(qs[start - 1 : start - 1 + count]) if count else []
        return list_answer(
            [group_resource(request, g, members=members) for g in page], total, start
        )

    def post(self, request):
        payload = self.body()
        _check_group(payload)
        with transaction.atomic():
            group = people.group_provision(
                company=self.company,
                name=str(payload.get("displayName") or ""),
                external_id=str(payload.get("externalId") or ""),
                actor=self.actor,
            )
            if payload.get("members"):
                people.group_members_set(
                    company=self.company,
                    group_id=group.pk,
                    actor=self.actor,
                    add=_member_ids(payload["members"]),
                )
        return answer(group_resource(request, self.groups().get(pk=group.pk)), 201)


def _check_group(payload: dict) -> None:
    for key in payload:
        if key not in GROUP_ATTRIBUTES:
            raise ScimError(400, f"Unknown attribute {key!r} in Group.", "invalidValue")


class GroupDetail(ScimView):
    def get(self, request, pk):
        members = "members" not in request.GET.get("excludedAttributes", "")
        return answer(group_resource(request, self.groups().get(pk=pk), members=members))

    def put(self, request, pk):
        group = self.groups().get(pk=pk)
        payload = self.body()
        _check_group(payload)
        with transaction.atomic():
            people.group_provision(
                company=self.company,
                name=str(payload.get("displayName") or group.name),
                external_id=str(payload.get("externalId") or ""),
                actor=self.actor,
                group_id=group.pk,
            )
            people.group_members_set(
                company=self.company,
                group_id=group.pk,
                actor=self.actor,
                replace=_member_ids(payload.get("members") or []),
            )
        return answer(group_resource(request, self.groups().get(pk=pk)))

    def patch(self, request, pk):
        group = self.groups().get(pk=pk)
        add, remove, replace = [], [], None
        name, external_id = group.name, group.external_id
        for op in _operations(self.body()):
            kind, path, value = str(op["op"]).lower(), str(op.get("path") or ""), op.get("value")
            member = MEMBER_PATH.match(path)
            if member and kind == "remove":
                remove.append(int(member.group(1)))
            elif path.lower() == "members":
                ids = _member_ids(value or [])
                if kind == "add":
                    add += ids
                elif kind == "remove":
                    remove += ids if value else [m.pk for m in group.members.all()]
                else:
                    replace = ids
            elif path.lower() == "displayname" and kind != "remove":
                name = str(value or "")
            elif path.lower() == "externalid":
                external_id = "" if kind == "remove" else str(value or "")
            elif not path and isinstance(value, dict) and kind != "remove":
                _check_group(value)
                name = str(value.get("displayName") or name)
                external_id = str(value.get("externalId") or external_id)
                if "members" in value:
                    replace = _member_ids(value["members"] or [])
            else:
                raise ScimError(400, f"Unknown attribute path {path!r}.", "invalidPath")
        with transaction.atomic():
            if (name, external_id) != (group.name, group.external_id):
                people.group_provision(
                    company=self.company,
                    name=name,
                    external_id=external_id,
                    actor=self.actor,
                    group_id=group.pk,
                )
            if add or remove or replace is not None:
                people.group_members_set(
                    company=self.company,
                    group_id=group.pk,
                    actor=self.actor,
                    add=add,
                    remove=remove,
                    replace=replace,
                )
        return answer(None, 204)

    def delete(self, request, pk):
        group = self.groups().get(pk=pk)
        people.group_delete(company=self.company, group_id=group.pk, actor=self.actor)
        return answer(None, 204)


# --- Discovery (RFC 7644 §4) ----------------------------------------------------------------


def _attribute(
    name,
    type_="string",
    *,
    required=False,
    multi=False,
    mutability="readWrite",
    unique="none",
    sub=None,
    description="",
):
    body = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description,
        "required": required,
        "caseExact": False,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": unique,
    }
    if sub:
        body["subAttributes"] = sub
    return body


def _typed_list(name: str, description: str) -> dict:
    return _attribute(
        name,
        "complex",
        multi=True,
        description=description,
        sub=[_attribute("value"), _attribute("type"), _attribute("primary", "boolean")],
    )


SCHEMAS = {
    USER: {
        "name": "User",
        "description": "A person of the company.",
        "attributes": [
            _attribute("userName", required=True, unique="server", description="E-mail."),
            _attribute(
                "name",
                "complex",
                sub=[_attribute(n) for n in ("formatted", "givenName", "familyName")],
            ),
            _attribute("displayName"),
            _attribute("title", description="Job title."),
            _attribute("externalId", description="The directory's ID of the person."),
            _attribute("active", "boolean", description="False: a leaver (never deleted)."),
            _typed_list("emails", "The work address is the sign-in."),
            _typed_list("phoneNumbers", "The work number."),
            _attribute(
                "groups",
                "complex",
                multi=True,
                mutability="readOnly",
                sub=[_attribute("value"), _attribute("display")],
            ),
        ],
    },
    GROUP: {
        "name": "Group",
        "description": "A group of the company's people (budget policies name groups).",
        "attributes": [
            _attribute("displayName", required=True, unique="server"),
            _attribute("externalId"),
            _attribute(
                "members",
                "complex",
                multi=True,
                sub=[_attribute("value"), _attribute("display", mutability="readOnly")],
            ),
        ],
    },
    ENTERPRISE: {
        "name": "EnterpriseUser",
        "description": "Enterprise User (the cost centre is stored).",
        "attributes": [_attribute("costCenter")],
    },
    VELORY: {
        "name": "VeloryUser",
        "description": "Velory's extension: the exit date opens an offboarding case.",
        "attributes": [_attribute("exitDate", "dateTime", description="YYYY-MM-DD.")],
    },
}


def _schema(request, urn: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        **SCHEMAS[urn],
        "meta": {
            "resourceType": "Schema",
            "location": request.build_absolute_uri(reverse("scim-schema", args=[urn])),
        },
    }


def _resource_types(request) -> list[dict]:
    kinds = [
        ("User", "/Users", USER, [ENTERPRISE, VELORY]),
        ("Group", "/Groups", GROUP, []),
    ]
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": endpoint,
            "schema": schema,
            "schemaExtensions": [{"schema": e, "required": False} for e in extensions],
            "meta": {
                "resourceType": "ResourceType",
                "location": request.build_absolute_uri(reverse("scim-resource-type", args=[name])),
            },
        }
        for name, endpoint, schema, extensions in kinds
    ]


class ServiceProviderConfig(ScimView):
    def get(self, request):
        return answer(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "documentationUri": request.build_absolute_uri("/admin/"),
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": MAX_PAGE},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": False},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "Bearer token",
                        "description": "A SCIM token the company admin makes in Velory.",
                        "primary": True,
                    }
                ],
                "meta": {"resourceType": "ServiceProviderConfig"},
            }
        )


class Schemas(ScimView):
    def get(self, request, urn=None):
        if urn is None:
            items = [_schema(request, u) for u in SCHEMAS]
            return list_answer(items, len(items), 1)
        if urn not in SCHEMAS:
            raise ScimError(404, f"No schema {urn}.")
        return answer(_schema(request, urn))


class ResourceTypes(ScimView):
    def get(self, request, name=None):
        items = _resource_types(request)
        if name is None:
            return list_answer(items, len(items), 1)
        for item in items:
            if item["id"] == name:
                return answer(item)
        raise ScimError(404, f"No resource type {name}.")
