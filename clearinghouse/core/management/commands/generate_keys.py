from django.test import override_settings

from clearinghouse.core import crypto
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Create the signing keys and the pseudonym master key in CH_KEY_DIR where missing "
        "(existing keys are never overwritten). Production never generates keys implicitly."
    )

    def handle(self, *args, **options):
        with override_settings(CH_GENERATE_KEYS=True):
            crypto.reset_key_cache()
            for use in crypto.SIGNING_USES:
                signer = crypto.signer_get(use)
                self.stdout.write(f"{use}: {signer.key_id}")
            crypto.master_key_load()
            self.stdout.write("pseudonym master key: present")
        crypto.reset_key_cache()
