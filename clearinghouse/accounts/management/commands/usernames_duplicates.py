from django.core.management.base import BaseCommand, CommandError

from clearinghouse.accounts.usernames import username_index_create, username_index_exists, usernames_duplicates_list


class Command(BaseCommand):
    help = (
        "List users whose usernames differ only in case (exit 1 when there are any). Usernames are unique "
        "case-insensitively; resolve each group (rename or erase all but one account), then run with --index to "
        "create the unique index the migration had to leave out."
    )

    def add_arguments(self, parser):
        parser.add_argument("--index", action="store_true", help="create the case-insensitive unique index when no duplicates remain")

    def handle(self, *args, index=False, **options):
        groups = usernames_duplicates_list()
        for group in groups:
            self.stdout.write("  ".join(f"id={user_id} {username!r}" for user_id, username in group))
        if groups:
            raise CommandError(f"{len(groups)} usernames exist in more than one case", returncode=1)
        if index:
            username_index_create()
        state = "present" if username_index_exists() else "missing (run with --index)"
        self.stderr.write(f"No usernames differ only in case. Case-insensitive unique index: {state}.")
