"""Who acts when a partner's systems push through the API: the partner, by one API key."""

from __future__ import annotations

from dataclasses import dataclass

from core.tenancy import Role


@dataclass(frozen=True)
class PartnerApiActor:
    """A partner pushing through one of its API keys.

    It has the partner staff's role and partner, so ``visible_to`` scopes it to the
    partner's rows and the lifecycle table's "partner" column applies to it, and it is named
    in history as the key ("API key vpk_ab12… (Nordic IT)"). It is nobody's account: no
    user row, no admin, no permissions beyond what the API's services allow."""

    partner: object  # companies.Partner
    key_id: int
    key_prefix: str

    is_system = False
    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None
    id = None
    role = Role.PARTNER_STAFF
    company_id = None
    email = ""

    @property
    def partner_id(self) -> int:
        return self.partner.pk

    def __str__(self) -> str:
        return self.get_full_name()

    def get_full_name(self) -> str:
        return f"API key {self.key_prefix}…"
