"""Profile the per-event work of ``POST /v1/events`` in one thread, without HTTP.

The service runs ingest in worker threads, which a sampling profiler started on the main thread
does not see; this script runs the same steps (authenticate the key, read the inbound secret,
parse, ``receive_events``) in a loop on a fresh SQLite database, with the benchmark's template
and distribution, under pyinstrument. Events are ingested ``--batch`` at a time, as the service's
group commit does under load.

    .venv/bin/python benchmarks/profile_ingest.py [--events 2000] [--batch 32] [--html FILE]
        [--no-profile]

It ends with the CPU time per event (steadier than rates on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.events import MJML
from distribution.accounts.projects import (
    authenticate,
    cached_project,
    create_api_key,
    create_project,
)
from distribution.events.distributions import DistributionSpec, create_distribution
from distribution.events.event_input import IncomingEvent, parse_event
from distribution.events.inbound_signing import open_inbound_secret
from distribution.events.ingest import receive_events
from distribution.outbox import ChannelSpec, LinkSettings
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade
from distribution.storage.secrets import SecretBox
from distribution.template_store import VersionInput, create_template, publish_version


def _set_up(database: Database) -> tuple[str, str, str]:
    with database.session() as session:
        project = create_project(session, "profile")
        key = create_api_key(session, project.id)
        saved = create_template(
            session,
            project.id,
            name="bench",
            channel="email",
            category="transactional",
            first_version=VersionInput(
                body=MJML, subject="Your reward, {{ customer.first_name }}", body_format="mjml"
            ),
        )
        publish_version(session, project.id, saved.version.template_id, saved.version.id)
        create_distribution(
            session,
            project.id,
            DistributionSpec(
                name="bench",
                trigger="reward.granted",
                channels=[ChannelSpec("email", saved.version.template_id, "capture")],
                filters={},
            ),
            actor="profile",
        )
        return project.id, key.key.app_id, key.token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32, help="events per transaction")
    parser.add_argument("--html", help="also write pyinstrument's HTML report here")
    parser.add_argument("--no-profile", action="store_true", help="only measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'dm.sqlite3'}")
        upgrade(database.engine)
        project_id, app_id, token = _set_up(database)
        box = SecretBox("profile-secret")
        links = LinkSettings(public_url="http://127.0.0.1:8000", secret_key="profile-secret")
        profiler = Profiler(interval=0.0005) if not args.no_profile else None
        start = time.perf_counter()
        cpu_start = time.process_time()
        if profiler:
            profiler.start()
        batch: list[tuple[str, IncomingEvent]] = []
        for n in range(args.events):
            with database.reader() as session:
                authenticate(session, app_id, token)
                project = cached_project(session, project_id)
            open_inbound_secret(box, project.inbound_webhook_secret_encrypted)
            body = {
                "id": f"profile-{n}",
                "type": "reward.granted",
                "customer": {
                    "source_id": f"c{n % 500}",
                    "email": f"c{n % 500}@example.com",
                    "name": f"Customer {n % 500}",
                },
                "reward": {"type": "credit", "amount": 1500, "currency": "EUR"},
            }
            batch.append((project_id, parse_event(body)))
            if len(batch) == args.batch or n == args.events - 1:
                for outcome in receive_events(database, batch, links):
                    if isinstance(outcome, Exception):
                        raise outcome
                batch.clear()
        if profiler:
            profiler.stop()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        database.dispose()
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            Path(args.html).write_text(profiler.output_html())
    print(
        f"{args.events} events in {elapsed:.2f} s: {args.events / elapsed:,.0f} events/s, "
        f"{cpu * 1000 / args.events:.2f} ms CPU each"
    )


if __name__ == "__main__":
    main()
