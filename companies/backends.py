from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Sign in with e-mail (case-insensitive). The user is loaded with their company and
    partner in one query, so the page shell costs nothing more."""

    def get_user(self, user_id):
        from .models import User

        try:
            user = User.objects.select_related("company", "partner").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
