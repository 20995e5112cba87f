"""drf-spectacular descriptions of our authentication schemes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "clearinghouse.accounts.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Consumer token (chc_…), platform key (chp_…) or manufacturer key (chm_…).",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    target_class = "clearinghouse.accounts.authentication.PortalSessionAuthentication"
    name = "portalSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Portal session (with CSRF token)."}
