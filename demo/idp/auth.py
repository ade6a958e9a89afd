"""People sign in to the demo provider with their e-mail address."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user = User.objects.filter(email__iexact=(username or "").strip()).first()
        if user is None:
            User().set_password(password or "")  # as long as for someone who exists
            return None
        if user.check_password(password or "") and self.user_can_authenticate(user):
            return user
        return None
