"""SCIM 2.0 over real HTTP (the live server on 127.0.0.1), with the request sequences
Microsoft Entra's provisioning sends: look up by userName, create, update attributes, soft
delete with ``active: false``, group membership patches; and the discovery endpoints."""

from __future__ import annotations

import httpx
import pytest

from budgets.models import Budget, BudgetPolicy
from companies.models import EmployeeGroup, User
from devices.models import DeviceStatus
from people.models import OffboardingCase
from people.services.tokens import scim_token_create, scim_token_revoke
from tests.helpers import device_in

S = DeviceStatus
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def scim(transactional_db, live_server, acme):
    """An HTTP client of Acme's directory, with a fresh token."""
    _, raw = scim_token_create(company=acme.company, name="Microsoft Entra", actor=acme.admin)
    with httpx.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/scim+json"},
        timeout=10,
    ) as client:
        client.raw_token = raw
        yield client


def entra_user(email="new.joiner@acme.example", external_id="e-100", **extra):
    """The body Entra's default attribute mapping POSTs."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": email,
        "active": True,
        "displayName": "Nia Joiner",
        "title": "Analyst",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "name": {"formatted": "Nia Joiner", "familyName": "Joiner", "givenName": "Nia"},
        "preferredLanguage": "sv-SE",
        "addresses": [{"type": "work", "locality": "Stockholm"}],
        ENTERPRISE: {"costCenter": "CC-7", "department": "Finance"},
        **extra,
    }


def patch(*operations):
    return {"schemas": [PATCH], "Operations": list(operations)}


def assert_scim_error(response, status, scim_type=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type


def test_entra_creates_a_joiner_after_looking_them_up(scim, acme):
    found = scim.get("/Users", params={"filter": 'userName eq "new.joiner@acme.example"'})
    assert found.status_code == 200 and found.json()["totalResults"] == 0
    created = scim.post("/Users", json=entra_user())
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    body = created.json()
    user = User.objects.get(pk=body["id"])
    assert (user.email, user.full_name, user.company, user.external_id) == (
        "new.joiner@acme.example",
        "Nia Joiner",
        acme.company,
        "e-100",
    )
    assert (user.job_title, user.cost_centre, user.provisioned_by) == ("Analyst", "CC-7", "scim")
    assert body["active"] is True and body[ENTERPRISE]["costCenter"] == "CC-7"
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{user.pk}")
    by_external = scim.get("/Users", params={"filter": 'externalId eq "e-100"'}).json()
    assert [r["id"] for r in by_external["Resources"]] == [str(user.pk)]


def test_a_joiner_gets_the_budgets_of_the_company_policies_and_a_welcome(scim, acme):
    BudgetPolicy.objects.create(company=acme.company, allowance="1500.00", category="laptop")
    BudgetPolicy.objects.create(
        company=acme.company, allowance="2500.00", category="laptop", cost_centre="CC-7"
    )
    BudgetPolicy.objects.create(company=acme.company, allowance="400.00", category="phone")
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    budgets = {b.category: b.allowance for b in Budget.objects.filter(employee_id=user_id)}
    assert {k: str(v) for k, v in budgets.items()} == {"laptop": "2500.00", "phone": "400.00"}
    from notifications.models import Notification

    welcome = Notification.objects.get(kind="welcome", recipient_id=user_id)
    assert "/catalogue/" in welcome.body_text and "Acme Corp" in welcome.subject


def test_entra_updates_attributes_with_patch(scim, acme):
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    answer = scim.patch(
        f"/Users/{user_id}",
        json=patch(
            {"op": "Replace", "path": "title", "value": "Senior Analyst"},
            {"op": "Replace", "path": "name.givenName", "value": "Nina"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "nina@acme.example"},
            {"op": "Replace", "path": f"{ENTERPRISE}:costCenter", "value": "CC-9"},
            {"op": "Replace", "path": "preferredLanguage", "value": "fi-FI"},
        ),
    )
    assert answer.status_code == 200, answer.text
    user = User.objects.get(pk=user_id)
    assert (user.job_title, user.full_name, user.email, user.cost_centre) == (
        "Senior Analyst",
        "Nina Joiner",
        "nina@acme.example",
        "CC-9",
    )
    again = scim.patch(
        f"/Users/{user_id}", json=patch({"op": "replace", "value": {"displayName": "Nina J"}})
    )
    assert again.json()["displayName"] == "Nina J"


def test_soft_delete_makes_a_leaver_and_deletes_nothing(scim, acme):
    user_id = scim.post("/Users", json=entra_user(email="leaving@acme.example")).json()["id"]
    user = User.objects.get(pk=user_id)
    laptop = device_in(acme, S.ACTIVE, employee=user)
    answer = scim.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": "False"})
    )
    assert answer.status_code == 200 and answer.json()["active"] is False
    user.refresh_from_db()
    assert not user.directory_active and user.leaver_date is not None
    assert user.is_active  # the account stays open until the hardware is settled
    case = OffboardingCase.objects.get(employee=user, status="open")
    assert list(case.items.values_list("device_id", flat=True)) == [laptop.pk]
    # Entra repeats itself: nothing new
    scim.patch(f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": False}))
    assert OffboardingCase.objects.filter(employee=user).count() == 1
    # DELETE is the same soft delete
    assert scim.delete(f"/Users/{user_id}").status_code == 204
    assert User.objects.filter(pk=user_id).exists()
    laptop.refresh_from_db()
    assert laptop.owner_id == user.pk


def test_reactivating_a_mistaken_leaver_cancels_the_untouched_case(scim, acme):
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    scim.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": "False"})
    )
    scim.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": "True"})
    )
    user = User.objects.get(pk=user_id)
    assert user.directory_active and user.leaver_date is None
    assert OffboardingCase.objects.get(employee=user).status == "cancelled"


def test_put_replaces_the_person(scim, acme):
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    body = entra_user(title=None)
    body.pop("title")
    body[ENTERPRISE] = {}
    answer = scim.put(f"/Users/{user_id}", json=body)
    assert answer.status_code == 200, answer.text
    user = User.objects.get(pk=user_id)
    assert (user.job_title, user.cost_centre) == ("", "")


def test_groups_and_membership_patches_apply_group_budget_policies(scim, acme):
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    created = scim.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "externalId": "g-1",
            "members": [],
        },
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    BudgetPolicy.objects.create(
        company=acme.company, group_id=group_id, allowance="3000.00", category="laptop"
    )
    added = scim.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Add", "path": "members", "value": [{"value": user_id}]}),
    )
    assert added.status_code == 204, added.text
    group = EmployeeGroup.objects.get(pk=group_id)
    assert list(group.members.values_list("pk", flat=True)) == [int(user_id)]
    assert str(Budget.objects.get(employee_id=user_id, category="laptop").allowance) == "3000.00"
    listed = scim.get(
        "/Groups",
        params={"filter": 'displayName eq "Engineering"', "excludedAttributes": "members"},
    ).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    assert scim.get(f"/Users/{user_id}").json()["groups"] == [
        {"value": str(group_id), "display": "Engineering"}
    ]
    removed = scim.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Remove", "path": f'members[value eq "{user_id}"]'}),
    )
    assert removed.status_code == 204 and not group.members.exists()
    renamed = scim.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Replace", "path": "displayName", "value": "Platform"}),
    )
    assert renamed.status_code == 204
    group.refresh_from_db()
    assert group.name == "Platform"
    # deleting a group its policies name keeps it (and them), emptied and unlinked
    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    group.refresh_from_db()
    assert group.external_id == "" and BudgetPolicy.objects.filter(group=group).exists()


def test_discovery_endpoints(scim):
    config = scim.get("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] and config["filter"]["supported"]
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    schemas = scim.get("/Schemas").json()
    ids = {r["id"] for r in schemas["Resources"]}
    assert "urn:ietf:params:scim:schemas:core:2.0:User" in ids and ENTERPRISE in ids
    one = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group").json()
    assert one["name"] == "Group"
    types = scim.get("/ResourceTypes").json()
    assert {r["endpoint"] for r in types["Resources"]} == {"/Users", "/Groups"}
    assert scim.get("/ResourceTypes/User").json()["schema"].endswith(":User")


def test_a_wrong_or_revoked_token_is_401(scim, acme, live_server):
    base = f"{live_server.url}/scim/v2/Users"
    for header in ({}, {"Authorization": "Bearer vscim_wrong"}, {"Authorization": "Basic x"}):
        answer = httpx.get(base, headers=header)
        assert_scim_error(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer")
    token = acme.company.scim_tokens.get()
    scim_token_revoke(token_id=token.pk, actor=acme.admin)
    assert_scim_error(scim.get("/Users"), 401)


def test_another_companys_person_is_404_and_never_listed(scim, acme, globex):
    assert_scim_error(scim.get(f"/Users/{globex.employee.pk}"), 404)
    assert_scim_error(
        scim.patch(
            f"/Users/{globex.employee.pk}",
            json=patch({"op": "Replace", "path": "active", "value": "False"}),
        ),
        404,
    )
    assert_scim_error(scim.delete(f"/Users/{globex.employee.pk}"), 404)
    globex.employee.refresh_from_db()
    assert globex.employee.directory_active and globex.employee.leaver_date is None
    listed = scim.get("/Users", params={"filter": f'userName eq "{globex.employee.email}"'})
    assert listed.json()["totalResults"] == 0
    everyone = {r["userName"] for r in scim.get("/Users").json()["Resources"]}
    assert globex.employee.email not in everyone and acme.employee.email in everyone


def test_unknown_attributes_are_400_in_scims_error_format(scim):
    assert_scim_error(scim.post("/Users", json=entra_user(shoeSize=44)), 400, "invalidValue")
    bad_ext = entra_user()
    bad_ext[ENTERPRISE]["favouriteColour"] = "green"
    assert_scim_error(scim.post("/Users", json=bad_ext), 400, "invalidValue")
    user_id = scim.post("/Users", json=entra_user()).json()["id"]
    assert_scim_error(
        scim.patch(
            f"/Users/{user_id}", json=patch({"op": "Replace", "path": "shoeSize", "value": 1})
        ),
        400,
        "invalidPath",
    )
    assert_scim_error(scim.post("/Users", content=b"{not json"), 400, "invalidSyntax")
    assert_scim_error(scim.get("/Users", params={"filter": 'title co "x"'}), 400, "invalidFilter")
    assert User.objects.get(pk=user_id).full_name == "Nia Joiner"


def test_a_duplicate_user_name_is_409_whoever_holds_it(scim, acme, globex):
    assert scim.post("/Users", json=entra_user()).status_code == 201
    assert_scim_error(scim.post("/Users", json=entra_user(external_id="e-200")), 409, "uniqueness")
    # another company's address: refused, never linked
    taken = scim.post("/Users", json=entra_user(email=globex.employee.email, external_id="e-3"))
    assert_scim_error(taken, 409, "uniqueness")
    assert User.objects.get(pk=globex.employee.pk).company == globex.company
    assert User.objects.filter(company=acme.company, external_id="e-3").count() == 0


def test_the_user_list_is_a_constant_number_of_queries(client, acme, django_assert_num_queries):
    """In process (the live server's queries run on its own connection)."""
    _, raw = scim_token_create(company=acme.company, name="Okta", actor=acme.admin)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    group = EmployeeGroup.objects.create(company=acme.company, name="All")
    for n in range(6):
        user = User.objects.create(email=f"p{n}@acme.example", company=acme.company)
        group.members.add(user)
    # the token (and its last use), the count, the page, the groups of the page
    with django_assert_num_queries(5):
        answer = client.get("/scim/v2/Users?count=50", **auth)
    assert answer.status_code == 200 and answer.json()["totalResults"] >= 6
    with django_assert_num_queries(4):
        assert client.get("/scim/v2/Groups", **auth).status_code == 200
