from django.urls import path

from clearinghouse.portal import security, views

app_name = "portal"

# The consumer portal. The compliance console lives under /compliance/ in its own
# namespace and extends portal/base.html.
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("consents/", views.consent_update, name="consent-update"),
    path("consents/withdraw-all/", views.consent_withdraw_everything, name="consent-withdraw-all"),
    path("history/", views.history, name="history"),
    path("receipts/<str:receipt_id>.json", views.receipt_download, name="receipt"),
    path("receipts/<str:receipt_id>/audit-proof.json", views.receipt_proof_download, name="receipt-proof"),
    path("receipts/<str:receipt_id>/", views.receipt_page, name="receipt-page"),
    path("verify/", views.verify, name="verify"),
    path("about/", views.trust, name="trust"),
    path("platforms/", views.platforms, name="platforms"),
    path("platforms/code/", views.link_code, name="link-code"),
    path("platforms/<slug:platform_slug>/remove/", views.link_remove, name="link-remove"),
    path("privacy-loss/", views.privacy_loss, name="privacy-loss"),
    path("my-data/", views.my_data, name="my-data"),
    path("my-data/export.json", views.export, name="export"),
    path("my-data/erase/", views.erase, name="erase"),
    path("my-data/certificates/<str:certificate_id>.json", views.certificate_download, name="certificate"),
    path("my-data/certificates/<str:certificate_id>/", views.certificate_page, name="certificate-page"),
    path("goodbye/", views.erased, name="erased"),
    path("goodbye/certificate.json", views.erased_certificate_download, name="erased-certificate"),
    # Getting back in without personal data (issue 14).
    path("recover/", security.recover, name="recover"),
    path("settings/", security.settings_page, name="settings"),
    path("settings/password/", security.password_change, name="password-change"),
    path("settings/recovery-codes/", security.recovery_codes, name="recovery-codes"),
    path("settings/recovery-codes/new/", security.recovery_codes_regenerate, name="recovery-codes-new"),
    path("settings/passkeys/options/", security.passkey_register_options, name="passkey-register-options"),
    path("settings/passkeys/", security.passkey_register, name="passkey-register"),
    path("settings/passkeys/<int:passkey_id>/remove/", security.passkey_remove, name="passkey-remove"),
    path("login/passkey/options/", security.passkey_login_options, name="passkey-login-options"),
    path("login/passkey/", security.passkey_login, name="passkey-login"),
]
