"""Who acts when nobody of the company clicked: its directory, through a SCIM token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectoryActor:
    """A company's directory (Microsoft Entra, Okta) provisioning through one SCIM token.

    It acts for one company only and sees nothing through ``visible_to`` (no role rule
    matches it): the SCIM views scope every lookup to the token's company themselves."""

    company_id: int
    label: str

    is_system = False
    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None
    id = None
    role = "directory"
    partner_id = None
    email = ""

    def __str__(self) -> str:
        return self.label

    def get_full_name(self) -> str:
        return self.label
