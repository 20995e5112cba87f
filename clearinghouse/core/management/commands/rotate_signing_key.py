from clearinghouse.core import crypto
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Retire the current signing key of one use (its public key stays published) and create a new one."

    def add_arguments(self, parser):
        parser.add_argument("use", choices=crypto.SIGNING_USES)

    def handle(self, *args, use, **options):
        signer = crypto.signing_key_rotate(use)
        self.stdout.write(f"{use}: new key {signer.key_id}; running web and worker processes sign with it from their next signature")
