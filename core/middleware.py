"""Headers every response carries: a page that shows a signed-in person's data is never
stored by a browser or a proxy, and the browser features Velory never uses are off."""

# Velory's pages use none of these; a page that tries (an injected script) is refused.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Your Details, the admin, a CSV export: none of it outlives the session.
            response.headers["Cache-Control"] = "no-store"
        return response
