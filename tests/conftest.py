from __future__ import annotations

import copy
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from django.db import connection
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres://", "postgresql://")):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL pointing at PostgreSQL")
        if not os.environ.get("REDIS_URL"):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs REDIS_URL")


def redis_reachable() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with any other session still on it ended before it is
    dropped. In full runs one was always left (idle, from this process; a probe after each
    module saw new ones appear after browser modules, where Playwright's loop runs on the
    test thread), and the drop waited 5 s for it and then failed, leaving the database to
    scripts/test.py: 5 s at the end of a worker, every run."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _service_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL: set DATABASE_URL")
    if request.node.get_closest_marker("redis") and not redis_reachable():
        _unavailable("needs Redis: set REDIS_URL")


@pytest.fixture(autouse=True)
def _taxonomy_present(request):
    """Transactional tests flush every table, including the taxonomy the data migration
    loaded; put it back for whichever test comes next.

    It goes back committed, before the test's own transaction: put back inside a test's
    transaction it was rolled back with it, and every later test paid the inserts again
    (~14 ms each, for most of the suite's tests)."""
    from clearinghouse.consent.taxonomy import taxonomy_cache_clear

    taxonomy_cache_clear()
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        transactional = "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))
        if transactional and "module_db" in request.fixturenames:
            pytest.fail("a transactional test cannot use data kept for the module (module_db): it would commit into it and flush it")
        from django.db import transaction

        # Inside module_db's transaction this is not committed, and need not be: module_db
        # put the taxonomy in it already.
        request.getfixturevalue("django_db_setup")  # the test database, before anything is written
        with request.getfixturevalue("django_db_blocker").unblock(), transaction.atomic():
            _taxonomy_restore()
        request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    taxonomy_cache_clear()


_taxonomy_rows: tuple[list[dict], list[dict]] | None = None


def _taxonomy_restore() -> None:
    """The shipped taxonomy, as the data migration loads it, into emptied tables.

    The first time in a process it is upserted term by term (about 190 inserts) and the
    rows it made are kept; after that, the same rows (same ids, parents first) go back in
    two bulk inserts."""
    global _taxonomy_rows
    from django.utils import timezone

    from clearinghouse.consent.models import TaxonomyTerm, TaxonomyVersion
    from clearinghouse.consent.taxonomy import DEFAULT_TAXONOMY_FILE, taxonomy_file_read, taxonomy_upsert

    if TaxonomyVersion.objects.exists():
        return
    if _taxonomy_rows is None or TaxonomyTerm.objects.exists():
        taxonomy_upsert(document=taxonomy_file_read(DEFAULT_TAXONOMY_FILE), term_model=TaxonomyTerm, version_model=TaxonomyVersion)
        if _taxonomy_rows is None and TaxonomyVersion.objects.count() == 1:
            _taxonomy_rows = (list(TaxonomyTerm.objects.order_by("id").values()), list(TaxonomyVersion.objects.values()))
        return
    terms, versions = _taxonomy_rows
    TaxonomyTerm.objects.bulk_create([TaxonomyTerm(**row) for row in terms])
    TaxonomyVersion.objects.bulk_create([TaxonomyVersion(**(row | {"loaded_at": timezone.now()})) for row in versions])


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker):
    """One transaction around a whole test module, for data built once per module instead
    of once per test (what Django's ``setUpTestData`` does for a TestCase class).

    A module-scoped fixture that requests this writes inside it; each test's own ``db``
    transaction is then a savepoint inside it, rolled back after the test, so every test
    starts from the data exactly as built; after the module's last test the whole module
    transaction is rolled back. Hand each test a ``copy.deepcopy`` of the Python objects
    built (``module_world``), so that one test changing them cannot change the next one's.
    Only for tests that use ``db``: a transactional test would commit into the module's
    transaction and flush it (``_taxonomy_present`` fails such a test)."""
    from django.db import transaction

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        # A transactional test of an earlier module may have flushed the taxonomy.
        _taxonomy_restore()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def module_world(value):
    """A module's data for one test: its own copy of the objects (model instances too)."""
    return copy.deepcopy(value)


@contextmanager
def module_build(django_db_blocker):
    """Database access for a module-scoped fixture building its data inside ``module_db``;
    the cache (throttle and lockout counters) is cleared after, as after a test."""
    from django.core.cache import cache

    from clearinghouse.consent.taxonomy import taxonomy_cache_clear

    with django_db_blocker.unblock():
        taxonomy_cache_clear()
        yield
    taxonomy_cache_clear()
    cache.clear()


class SavedWorld:
    """Data a module of transactional tests (live server, real workers) builds once, with
    its committed rows copied aside, so each test starts from it without building it again.

    Transactional tests commit, and each one's teardown empties every table, so the
    setUpTestData trick (``module_db``) does not apply. Instead the rows are built and
    committed once, every table holding any row is copied into a schema of its own on the
    server, and ``restore()`` (per test, after ``transactional_db``) empties the tables and
    copies the rows back: the same rows, ids and all, as building them again would give,
    with the sequences past them. The Python objects come back as a fresh deep copy.

    Built on a freshly emptied database with the taxonomy back in it (what any
    transactional test but the first starts from). Not PostgreSQL: built again per test.
    """

    _count = 0

    def __init__(self, build, django_db_blocker):
        from django.core.management import call_command

        self.build = build
        self.schema: str | None = None
        if connection.vendor != "postgresql":
            return
        SavedWorld._count += 1
        schema = f"test_saved_world_{SavedWorld._count}"
        with module_build(django_db_blocker):
            call_command("flush", interactive=False, reset_sequences=False, verbosity=0)
            _taxonomy_restore()
            self.value = build()
            self.tables = _tables_with_rows()
            quote = connection.ops.quote_name
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; "
                    + "; ".join(f"CREATE TABLE {schema}.{quote(table)} AS TABLE {quote(table)}" for table in self.tables)
                )
        self.schema = schema

    def restore(self):
        """The world again, as built: in the database (every table emptied first) and as
        a new copy of its objects."""
        if self.schema is None:
            return self.build()
        from django.db import transaction

        quote = connection.ops.quote_name
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        with transaction.atomic(), connection.cursor() as cursor:
            # As the test flush does: neither the append-only nor the foreign-key triggers
            # fire under the replica role, so the order of the tables does not matter.
            cursor.execute(
                "SET LOCAL session_replication_role = replica; "
                + "; ".join(f"DELETE FROM {quote(table)}" for table in tables)
                + "; "
                + "; ".join(f"INSERT INTO {quote(table)} SELECT * FROM {self.schema}.{quote(table)}" for table in self.tables)
            )
        return copy.deepcopy(self.value)

    def drop(self, django_db_blocker) -> None:
        from django.core.management import call_command

        if self.schema is None:
            return
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            # Left as a transactional test leaves it.
            call_command("flush", interactive=False, reset_sequences=False, verbosity=0)
            # Seen after the browser tests' last module: the session this opened was still
            # open when pytest-django dropped the test database (which waited 5 s on it,
            # then failed). Closed here; the next test opens one when it needs it.
            connection.close()


def _tables_with_rows() -> list[str]:
    quote = connection.ops.quote_name
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(table)})" for table in tables), tables)
        return [row[0] for row in cursor.fetchall()]


# --- Parties --------------------------------------------------------------------------


@dataclass
class ConsumerHandle:
    consumer: object
    token: str
    username: str
    password: str

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return client


@dataclass
class PartyHandle:
    obj: object
    key: str

    @property
    def slug(self) -> str:
        return self.obj.slug

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        return client


PASSWORD = "correct-horse-battery-9"


def consumer_make(username: str) -> ConsumerHandle:
    from clearinghouse.accounts.services import consumer_register

    consumer, token = consumer_register(username=username, password=PASSWORD, age_confirmed=True, channel="api")
    return ConsumerHandle(consumer=consumer, token=token, username=username, password=PASSWORD)


def platform_make(slug: str) -> PartyHandle:
    from clearinghouse.accounts.services import platform_register
    from clearinghouse.core.actors import Actor

    platform, key = platform_register(slug=slug, name=f"Platform {slug}", actor=Actor.operator())
    return PartyHandle(obj=platform, key=key)


def manufacturer_make(slug: str, sectors: list[str] | None = None) -> PartyHandle:
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.recipients import manufacturer_register

    manufacturer, key = manufacturer_register(
        slug=slug, name=f"Manufacturer {slug}", sectors=sectors or ["furniture"], actor=Actor.operator()
    )
    return PartyHandle(obj=manufacturer, key=key)


@pytest.fixture
def make_consumer(db):
    counter = iter(range(1, 10_000))

    def make(username: str | None = None) -> ConsumerHandle:
        return consumer_make(username or f"consumer{next(counter)}")

    return make


@pytest.fixture
def make_platform(db):
    return platform_make


@pytest.fixture
def make_manufacturer(db):
    return manufacturer_make


@pytest.fixture
def consumer_a(make_consumer) -> ConsumerHandle:
    return make_consumer("alice")


@pytest.fixture
def consumer_b(make_consumer) -> ConsumerHandle:
    return make_consumer("bob")


@pytest.fixture
def platform_p(make_platform) -> PartyHandle:
    return make_platform("shop-p")


@pytest.fixture
def platform_q(make_platform) -> PartyHandle:
    return make_platform("shop-q")


@pytest.fixture
def manufacturer(make_manufacturer) -> PartyHandle:
    return make_manufacturer("chairco", ["furniture", "food"])


def officer_make(username: str = "officer") -> ConsumerHandle:
    from clearinghouse.accounts.services import compliance_officer_create, consumer_token_obtain
    from clearinghouse.core.actors import Actor

    user = compliance_officer_create(username=username, password=PASSWORD, actor=Actor.operator())
    token = consumer_token_obtain(username=username, password=PASSWORD)
    return ConsumerHandle(consumer=user, token=token, username=username, password=PASSWORD)


@pytest.fixture
def officer(db):
    return officer_make()


def purposes_publish() -> dict:
    """Both shipped purposes, published and approved, by code."""
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    result = {}
    for code in ("c2m-product-design", "c2m-demand-forecast"):
        document = purpose_file_read(f"clearinghouse/consent/purposes/{code}.json")
        purpose, _ = purpose_publish(document=document, actor=Actor.operator(), approve=True)
        result[code] = purpose
    return result


@pytest.fixture
def purposes(db):
    """Both shipped purposes, published and approved."""
    return purposes_publish()


def grant_body(purpose, platform_slug: str, language: str = "en") -> dict:
    return {
        "purpose": purpose.code,
        "version": purpose.version,
        "platform": platform_slug,
        "action": "grant",
        "notice_digest": purpose.notice_digests[language],
    }


def link_subject(consumer: ConsumerHandle, platform: PartyHandle, subject_ref: str) -> None:
    """Link ``consumer`` on ``platform`` under ``subject_ref`` through the public API."""
    response = consumer.client().post("/api/v1/me/links", {"platform": platform.slug}, format="json")
    assert response.status_code == 201, response.content
    redeem = platform.client().post("/api/v1/platform/links", {"code": response.json()["code"], "subject_ref": subject_ref}, format="json")
    assert redeem.status_code == 201, redeem.content


# --- A real Celery worker ---------------------------------------------------------------


class WorkerHandle:
    """A `celery worker` subprocess on Redis, against this test run's database."""

    def __init__(self, process, queue: str, log_path):
        self.process = process
        self.queue = queue
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def diagnosis(self) -> str:
        """The log after asking the worker for every thread's stack (Celery's SIGUSR1
        handler writes them), plus what each session of the test database is doing: what a
        test that timed out waiting on the worker needs to say where the worker was."""
        import signal
        import time

        from django.db import connections

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGUSR1)
            time.sleep(1.0)
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 200) "
                    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                sessions = "\n".join(repr(row) for row in cursor.fetchall())
        except Exception as error:  # SQLite, or the database itself is the problem
            sessions = f"(no pg_stat_activity: {error})"
        return f"{self.log()}\n--- database sessions ---\n{sessions}"

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        import signal

        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except Exception:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """Start real workers: ``start(pool="solo", concurrency=1)`` returns a WorkerHandle.

    Tasks sent by the test process go to a queue private to this test, through Redis, and
    are run by the subprocess against the same (test) database, so the data they need must
    be committed: hence ``transactional_db``.
    """
    import subprocess
    import time
    import uuid

    from django.conf import settings as django_settings
    from django.db import connection as db_connection

    from clearinghouse.celery import app

    if not redis_reachable():
        _unavailable("needs Redis: set REDIS_URL")
    queue = f"test-{uuid.uuid4().hex[:12]}"
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    handles: list[WorkerHandle] = []

    db = db_connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        database_url = f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        database_url = f"sqlite:///{db['NAME']}"

    def start(pool: str = "solo", concurrency: int = 1, extra_env: dict | None = None) -> WorkerHandle:
        env = dict(os.environ)
        env.update(
            CH_ENV="test",
            DJANGO_SETTINGS_MODULE="tests.settings",
            CELERY_EAGER="0",
            CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
            DATABASE_URL=database_url,
            **(extra_env or {}),
        )
        env.pop("DATABASE_TEST_NAME", None)
        log_path = tmp_path / f"worker-{len(handles)}.log"
        process = subprocess.Popen(
            [
                os.path.join(os.path.dirname(os.sys.executable), "celery"),
                "-A",
                "clearinghouse",
                "worker",
                "-Q",
                queue,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "-n",
                f"{queue}-{len(handles)}@%h",
            ],
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle = WorkerHandle(process, queue, log_path)
        handles.append(handle)
        deadline = time.monotonic() + 60
        while "ready." not in handle.log():
            if process.poll() is not None or time.monotonic() > deadline:
                handle.stop()
                pytest.fail(f"celery worker did not start:\n{handle.log()}")
            time.sleep(0.2)
        return handle

    yield start
    for handle in handles:
        handle.stop()
    app.conf.task_always_eager, app.conf.task_default_queue = previous


@pytest.fixture(autouse=True)
def _fresh_lockout_counts():
    """Sign-in lockouts, sign-up and denial counters live in the cache: one test's
    failures must not lock another's user."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
