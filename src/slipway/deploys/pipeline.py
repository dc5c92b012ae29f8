"""The deploy pipeline, run as a job: build → release → start → health gate → switch → watch → drain.

Each step commits its own state so the dashboard and CLI can follow it live; the outcome of the
deploy (and the app's live release) changes only at the switch, so a failure before it leaves the
running release untouched.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from sqlalchemy import select, update

from slipway import events
from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.builds import service as build_service
from slipway.builds.base import BuildContext
from slipway.builds.paths import drop_escaping_links
from slipway.builds.versions import split_folders
from slipway.cron import repo as cron_repo
from slipway.db import transaction, utcnow
from slipway.deploys import gate, reasons
from slipway.deploys import service as deploy_service
from slipway.deploys.log import DeployLog
from slipway.deploys.models import Deploy, Release
from slipway.errors import DeployError, SlipwayError
from slipway.git import local as local_git
from slipway.git import service as git_service
from slipway.gitpush import repos as push_repos
from slipway.instances import service as instance_service
from slipway.instances.models import Instance
from slipway.jobs.worker import JobContext, Retry
from slipway.observability.smoke import run_smoke_checks
from slipway.platform import Platform
from slipway.proc import run as run_process
from slipway.routing import service as routing

CRASHED = gate.CRASHED


def _docker_build():  # type: ignore[no-untyped-def]
    """Imported on first use: the docker SDK costs ~8 MB of memory that a host without docker never needs."""
    from slipway.builds import docker

    return docker


def handle(ctx: JobContext) -> None:
    DeployRun(ctx.platform, ctx.payload["deploy_id"]).run()


class DeployRun:
    def __init__(self, platform: Platform, deploy_id: int) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.deploy_id = deploy_id
        self.log = DeployLog(platform.sessions, deploy_id)
        self._pull_ref: str | None = None  # set for a fork's preview: the pull request ref to fetch
        self.outcome_reason: str | None = None  # why a deploy that did not fail was rolled back
        with platform.sessions() as session:
            deploy = deploy_service.get(session, deploy_id)
            self.kind = deploy.kind
            self.app_id = deploy.app_id
            self.commit = deploy.commit
            self.source = deploy.source
            self.target_release_id = deploy.target_release_id

    # ---- bookkeeping ---------------------------------------------------------------------------

    def _app(self) -> App:
        with self.platform.sessions() as session:
            app = session.get(App, self.app_id)
            assert app is not None
            return app

    def _step(self, step: str, title: str) -> None:
        with transaction(self.platform.sessions) as session:
            session.execute(update(Deploy).where(Deploy.id == self.deploy_id).values(step=step))
        self.log.step(title)

    def _lock(self) -> bool | None:
        """Take the app's deploy slot; a slot held by a finished deploy is stale and taken over.

        None: the deploy was cancelled (or finished) since the job was claimed, so there is nothing to run.
        """
        with transaction(self.platform.sessions) as session:
            app = session.get(App, self.app_id, with_for_update=True)
            if app is None:
                return False
            mine = session.get(Deploy, self.deploy_id, populate_existing=True)
            if mine is None or mine.status in deploy_service.FINISHED:
                return None
            holder = session.get(Deploy, app.deploy_lock) if app.deploy_lock else None
            if holder is not None and holder.id != self.deploy_id and holder.status not in \
                    deploy_service.FINISHED:
                return False
            app.deploy_lock = self.deploy_id
            deploy = mine
            events.emit(session, "deploy.started", app_id=self.app_id,
                        actor="scheduler" if deploy.status == "scheduled" else "system",
                        deploy_id=deploy.id, kind=deploy.kind)
            deploy.status, deploy.started_at = "running", utcnow()
            self.commit = deploy.commit  # a burst of pushes may have moved it to a newer commit meanwhile
            return True

    def _mark_release_failed(self) -> None:
        """A release created by this deploy that never went live is kept for the record, marked failed."""
        with transaction(self.platform.sessions) as session:
            deploy = session.get(Deploy, self.deploy_id)
            app = session.get(App, self.app_id)
            release = session.get(Release, deploy.release_id) if deploy and deploy.release_id else None
            if release is not None and app is not None and release.id != app.live_release_id \
                    and release.kind != "restart":
                release.failed = True

    def _finish(self, status: str, reason: str | None = None, log_tail: str | None = None) -> None:
        self.log.flush()
        with transaction(self.platform.sessions) as session:
            deploy = session.get(Deploy, self.deploy_id)
            assert deploy is not None
            deploy_service.finish(session, deploy, status=status, reason=reason, log_tail=log_tail)
            session.execute(update(App).where(App.id == self.app_id, App.deploy_lock == self.deploy_id)
                            .values(deploy_lock=None))

    # ---- entry point ---------------------------------------------------------------------------

    def run(self) -> None:
        with self.platform.sessions() as session:
            deploy = deploy_service.get(session, self.deploy_id)
            if deploy.status in deploy_service.FINISHED:
                return
        locked = self._lock()
        if locked is None:
            return
        if not locked:
            raise Retry("another deploy of this app is running", delay=1.0, count=False)
        try:
            outcome = getattr(self, f"_run_{self.kind}")()
            self.log.step(f"Done: {outcome or 'succeeded'}")
            self._finish(outcome or "succeeded", self.outcome_reason)
        except SlipwayError as exc:
            self._fail(*reasons.from_error(exc, scrub=self.log.scrub))
        except Exception as exc:  # a bug or an unexpected failure: the deploy still ends, with a reason
            self._fail(reasons.one_line(self.log.scrub(f"internal error: {type(exc).__name__}: {exc}")), None)
            raise

    def _fail(self, reason: str, log_tail: str | None) -> None:
        """reason: one line, log_tail: text, both already scrubbed of the app's env values."""
        self.log(f"!!!!! {reason}")
        self._mark_release_failed()
        self.log(self._what_serves())
        self._finish("failed", reason, log_tail)

    def _what_serves(self) -> str:
        """After a failure: what the app's users get now (a first deploy changed nothing they could see)."""
        with self.platform.sessions() as session:
            app = session.get(App, self.app_id)
            live = session.get(Release, app.live_release_id) if app and app.live_release_id else None
        if live is None:
            return "nothing was live, nothing changed"
        return f"v{live.version} keeps serving"

    # ---- kinds ---------------------------------------------------------------------------------

    def _run_deploy(self) -> str | None:
        app = self._app()
        if app.runtime == "docker":
            return self._run_docker_deploy(app)
        url, commit = self._fetch_target(app)
        with transaction(self.platform.sessions) as session:
            session.execute(update(Deploy).where(Deploy.id == self.deploy_id).values(commit=commit))
            env = app_service.env_plain(session, self.platform.box, app)
        source = self.settings.path("builds") / str(self.deploy_id)
        artifact = self.settings.path("artifacts", app.name) / f"build-{self.deploy_id}"
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(artifact, ignore_errors=True)
        artifact.mkdir(parents=True)
        try:
            git_service.fetch(url=url, commit=commit, dest=source, log=self.log, ref=self._pull_ref)
            drop_escaping_links(source, self.log)  # a link out of the checkout never reaches the build
            self._step("build", f"Building {commit[:12]}")
            self.log.redact(list(env.values()))  # the app's build code sees its env: none of it reaches the log
            # caches per app: a shared venv or node_modules would let one app's build poison another's
            result = build_service.build(BuildContext(
                source_dir=source, artifact_dir=artifact, cache_dir=self.settings.path("cache", "apps", app.name),
                log=self.log, timeout=self.settings.build_timeout, sandbox=self.platform.sandbox, app=app.name,
                pythons=tuple(split_folders(self.settings.pythons)), nodes=tuple(split_folders(self.settings.nodes)),
                app_env=env))
        except BaseException:
            shutil.rmtree(artifact, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(source, ignore_errors=True)
        self.log(f"detected {result.build_kind} app; processes: {', '.join(result.processes) or 'none'}")
        release = self._new_release(kind="build", commit=commit, build_kind=result.build_kind,
                                    artifact_path=str(artifact), config=result.to_config(),
                                    description=f"deploy {commit[:12]}")
        return self._bring_live(release, run_release_command=True)

    def _fetch_target(self, app: App) -> tuple[str, str]:
        """(repository URL, full commit) this deploy builds: a pushed commit comes from the app's repository
        on this host, and so does every deploy of an app that has no git URL (it is fed by `git push`)."""
        if self.source == "push" or not app.git_url:
            url = str(push_repos.repo_path(self.settings, app.name))
            if not self.commit and not (Path(url) / "HEAD").exists():
                raise DeployError(f"{app.name} has no git URL and nothing was pushed to it yet: "
                                  f"git push {self.settings.git_remote(app.name)} {app.branch} "
                                  "(or set one with `slipway apps update --git URL`)")
            self._step("fetch", f"Fetching the pushed {app.branch} branch")
        elif app.environment == "preview" and (fork := self._fork_preview(app)) is not None:
            return fork
        else:
            url = app.git_url
            # again at each fetch: the setting may have changed, the path may now be a link into SLIPWAY_HOME
            local_git.check_source(url, settings=self.settings, privileged=None)
            self._step("fetch", f"Fetching {app.git_url} ({app.branch})")
        return url, self.commit or git_service.resolve_commit(url=url, branch=app.branch)

    def _fork_preview(self, app: App) -> tuple[str, str] | None:
        """A preview of a fork's pull request builds exactly the PR's head commit, fetched through the forge's
        pull request ref of the base repository (the fork's branch name means nothing there: a same-named
        branch of the base is other code). None for other previews (their branch is the PR's branch)."""
        from slipway.previews.models import Preview
        from slipway.previews.service import pull_ref

        with self.platform.sessions() as session:
            preview = session.scalar(select(Preview).where(Preview.app_id == app.id))
            if preview is None or not preview.fork:
                return None
            provider, number, head = preview.provider, preview.number, preview.head_commit
        ref = pull_ref(provider, number)
        if ref is None:
            raise DeployError(f"{provider} serves no pull request ref: a fork's preview cannot be fetched")
        commit = self.commit or head
        if not commit:
            raise DeployError(f"pull request #{number} named no head commit: nothing to deploy")
        local_git.check_source(app.git_url, settings=self.settings, privileged=None)
        self._step("fetch", f"Fetching pull request #{number} ({ref}) from {app.git_url}")
        self._pull_ref = ref
        return app.git_url, commit

    def _run_docker_deploy(self, app: App) -> str | None:
        """Dockerfile → image `slipway/<app>:<version>`, or a prebuilt image (`--image`): no buildpacks."""
        runtime = self.platform.runtime_for("docker")
        assert isinstance(runtime, _docker_build().DockerRuntime)
        port = (app.docker_build or {}).get("port")  # None: the image's EXPOSE (see builds.docker.container_port)
        if app.image:
            self._step("build", f"Using the prebuilt image {app.image}")
            built = _docker_build().prebuilt(runtime, app.image, port=int(port) if port else None, log=self.log)
            commit = ""
        else:
            url, commit = self._fetch_target(app)
            with transaction(self.platform.sessions) as session:
                session.execute(update(Deploy).where(Deploy.id == self.deploy_id).values(commit=commit))
                env = app_service.env_plain(session, self.platform.box, app)
            source = self.settings.path("builds") / str(self.deploy_id)
            shutil.rmtree(source, ignore_errors=True)
            try:
                git_service.fetch(url=url, commit=commit, dest=source, log=self.log, ref=self._pull_ref)
                drop_escaping_links(source, self.log)
                self._step("build", f"Building {commit[:12]} from its Dockerfile")
                self.log.redact(list(env.values()))  # nothing of the app's env may reach the log
                built = _docker_build().build(runtime, source, tag=f"slipway/{app.name}:build-{self.deploy_id}",
                                           overrides=app.docker_build or {}, env=env, log=self.log,
                                           timeout=self.settings.docker_build_timeout)
            finally:
                shutil.rmtree(source, ignore_errors=True)
        with self.platform.sessions() as session:
            version = deploy_service.next_version(session, app.id)  # we hold the app's deploy lock
        artifact = app.image or ""
        if built.kind == "dockerfile":
            artifact = _docker_build().tag(runtime, built.image_id, f"slipway/{app.name}", str(version))
            _docker_build().untag(runtime, f"slipway/{app.name}:build-{self.deploy_id}")
        self.log(f"image {artifact} ({built.image_id[:19]}); processes: "
                 + ", ".join(f"{k}: {v or '(image CMD)'}" for k, v in built.config["processes"].items()))
        release = self._new_release(kind="build", commit=commit, build_kind=built.kind, artifact_path=artifact,
                                    config=built.config,
                                    description=f"deploy {commit[:12]}" if commit else f"image {app.image}")
        return self._bring_live(release, run_release_command=True)

    def _artifact_exists(self, release: Release) -> bool:
        if release.config.get("runtime") == "docker":
            runtime = self.platform.runtime_for("docker")
            assert isinstance(runtime, _docker_build().DockerRuntime)
            return _docker_build().image_exists(runtime, release.config.get("image_id") or release.artifact_path)
        return Path(release.artifact_path).exists()

    def _run_rollback(self) -> str | None:
        with self.platform.sessions() as session:
            target = session.get(Release, self.target_release_id)
            assert target is not None
        if target.pruned or not self._artifact_exists(target):
            raise DeployError(f"the artifact of v{target.version} is gone (pruned)")
        self._step("release", f"Rolling back to v{target.version} ({target.commit[:12] or target.artifact_path}), "
                              "no rebuild")
        release = self._new_release(kind="rollback", commit=target.commit, build_kind=target.build_kind,
                                    artifact_path=target.artifact_path, config=target.config,
                                    env_enc=target.env_enc, source_release_id=target.id,
                                    description=f"rollback to v{target.version}")
        outcome = self._bring_live(release, run_release_command=False)
        if outcome is None:  # like Heroku: a rollback brings back the config of that release too
            with transaction(self.platform.sessions) as session:
                app = session.get(App, self.app_id)
                assert app is not None
                app_service.restore_env(session, self.platform.box, app, release.env_enc)
            self.log(f"env vars restored to those of v{target.version}")
        return outcome

    def _run_config(self) -> str | None:
        live = self._live_release()
        self._step("release", "Applying new env vars to the live release")
        release = self._new_release(kind="config", commit=live.commit, build_kind=live.build_kind,
                                    artifact_path=live.artifact_path, config=live.config,
                                    source_release_id=live.id, description="env vars changed")
        if self._app().desired_state != "running":
            with transaction(self.platform.sessions) as session:
                session.execute(update(App).where(App.id == self.app_id).values(live_release_id=release.id))
            self.log(f"the app is stopped: v{release.version} is recorded and starts with the app")
            return None
        return self._bring_live(release, run_release_command=True)

    def _run_restart(self) -> str | None:
        self._step("start", "Restarting with new instances")
        return self._bring_live(self._live_release(), run_release_command=False)

    def _run_start(self) -> str | None:
        with transaction(self.platform.sessions) as session:
            session.execute(update(App).where(App.id == self.app_id).values(desired_state="running"))
        return self._run_restart()

    def _run_stop(self) -> str | None:
        self._step("stop", "Stopping every instance")
        with transaction(self.platform.sessions) as session:
            session.execute(update(App).where(App.id == self.app_id).values(desired_state="stopped"))
            old = instance_service.active(session, self.app_id)
        routing.apply(self.platform)
        self._stop_all([i.id for i in old])
        return None

    # ---- helpers -------------------------------------------------------------------------------

    def _live_release(self) -> Release:
        with self.platform.sessions() as session:
            app = session.get(App, self.app_id)
            release = session.get(Release, app.live_release_id) if app and app.live_release_id else None
        if release is None:
            raise DeployError("the app has no live release")
        return release

    def _new_release(self, *, kind: str, commit: str, build_kind: str, artifact_path: str,
                     config: dict[str, object], env_enc: str | None = None,
                     source_release_id: int | None = None, description: str = "") -> Release:
        with transaction(self.platform.sessions) as session:
            app = session.get(App, self.app_id)
            assert app is not None
            release = Release(app_id=app.id, version=deploy_service.next_version(session, app.id), kind=kind,
                              commit=commit, build_kind=build_kind, artifact_path=artifact_path,
                              config=config,
                              env_enc=env_enc or app_service.env_snapshot(session, self.platform.box, app),
                              source_release_id=source_release_id, description=description)
            session.add(release)
            session.flush()
            session.execute(update(Deploy).where(Deploy.id == self.deploy_id).values(release_id=release.id))
        self.log(f"release v{release.version} created")
        return release

    def _bring_live(self, release: Release, *, run_release_command: bool) -> str | None:
        app = self._app()
        env = instance_service.release_env(self.platform, release)
        self.log.redact(list(env.values()))
        with self.platform.sessions() as session:
            old = [i.id for i in instance_service.active(session, self.app_id)]
            previous_live = app.live_release_id
        if release.config.get("static_root"):
            self._switch(release, new=[], old=old)
            self._drain_and_stop(old)
            self._prune()
            return None
        processes: dict[str, str] = release.config.get("processes", {})
        if not processes:
            raise DeployError("the release has no process to run")
        if run_release_command and release.config.get("release_command"):
            self._release_command(release, env)
        self._step("start", f"Starting v{release.version}")
        for line in instance_service.limits_report(self.platform, app=app, release=release):
            self.log(line)
        new: list[Instance] = []
        try:
            for process_type in processes:
                for _ in range(max(0, app.scale.get(process_type, 1))):
                    new.append(instance_service.start(self.platform, app=app, release=release,
                                                      process_type=process_type))
                    self.log(f"started {new[-1].id} on port {new[-1].port}")
            self._step("health", "Waiting for the new instances to be healthy")
            self._health_gate(release, new)
        except BaseException:
            self.log("the new release is not healthy: it gets no traffic")
            self._stop_all([i.id for i in new], tolerant=True)
            raise
        self._step("switch", f"Switching traffic to v{release.version}")
        try:
            self._switch(release, new=[i.id for i in new], old=old)
        except SlipwayError as exc:  # the router refused the new table: put everything back as it was
            self.log(f"the router refused the switch ({exc.message}): traffic stays where it was")
            self._switch_back(previous_live, old, [i.id for i in new], reapply=False)
            raise DeployError(f"could not switch traffic: {exc.message}", exc.detail) from exc
        crash = self._watch(new)
        if crash is not None:
            self.log.step("The new release crashed after the switch: rolling back automatically")
            self._switch_back(previous_live, old, [i.id for i in new])
            self._mark_release_failed()  # never a rollback target, takes no retention slot
            self.outcome_reason = (f"v{release.version} crashed within {self.settings.watch_seconds:g} s of the switch "
                                   f"({crash})")
            return "rolled_back"
        # smoke checks judge new code or config; undoing a rollback or a restart would make things worse
        reason = run_smoke_checks(self.platform, self.app_id, release) if self.kind in ("deploy", "config") \
            else None
        if reason is not None:
            self.log.step("Smoke checks failed after the switch: rolling back automatically")
            self.log(self.log.scrub(reason))
            self._switch_back(previous_live, old, [i.id for i in new])
            self._mark_release_failed()
            self.outcome_reason = f"smoke checks failed after the switch: {self.log.scrub(reason)}"
            return "rolled_back"
        self._step("drain", "Draining and stopping the old instances")
        self._drain_and_stop(old)
        self._prune()
        return None

    def _release_command(self, release: Release, env: dict[str, str]) -> None:
        command = release.config["release_command"]
        self._step("release_command", f"Running release command: {command}")
        if release.config.get("runtime") == "docker":  # in a one-off container of the new image
            code = instance_service.run_once(self.platform, app=self._app(), release=release,
                                             argv=["/bin/sh", "-c", command], on_line=self.log,
                                             timeout=self.settings.build_timeout, process_type="release")
            if code != 0:
                raise DeployError(f"release command exited with code {code}")
            return
        full_env = {"HOME": str(self.settings.path("homes", self._app().name)),
                    "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                    **release.config.get("env", {}), **env, "SLIPWAY_RELEASE": str(release.version)}
        # the command is the app's own release script, run with the app's privileges (like its Procfile):
        # in its sandbox, like the instances (its release read-only, its home writable)
        argv = ["/bin/sh", "-c", command]
        box = self.platform.sandbox
        if box is not None and box.isolation.isolated:
            name = self._app().name
            box.prepare(name)
            ro, rw = box.runtime_paths(name, release.artifact_path, full_env)
            argv = box.wrap(argv, app=name, cwd=release.artifact_path, ro=ro, rw=rw)
        result = run_process(argv, cwd=release.artifact_path, env=full_env,
                             timeout=self.settings.build_timeout, on_line=self.log)
        if not result.ok:
            why = "timed out" if result.timed_out else f"exited with code {result.returncode}"
            raise DeployError(f"release command {why}", "\n".join(result.tail[-20:]))

    def _health_gate(self, release: Release, new: list[Instance]) -> None:
        gate.wait_until_healthy(self.platform, release, new, log=self.log)

    def _switch(self, release: Release, *, new: list[str], old: list[str]) -> None:
        """One transaction, one router load: new instances in, old ones out (they keep running to drain)."""
        with transaction(self.platform.sessions) as session:
            instance_service.mark(session, new, "running")
            instance_service.mark(session, old, "stopping")
            session.execute(update(App).where(App.id == self.app_id)
                            .values(live_release_id=release.id, desired_state="running"))
            cron_repo.apply(session, session.get(App, self.app_id, populate_existing=True), release.config)
        routing.apply(self.platform)
        self._mark_live(release, watched=bool(new))

    def _mark_live(self, release: Release, *, watched: bool) -> None:
        """Record the moment traffic reached the release (the CLI prints it), and when the crash watch ends."""
        live_at = utcnow()
        watch = self.settings.watch_seconds if watched else 0.0
        with transaction(self.platform.sessions) as session:
            session.execute(update(Deploy).where(Deploy.id == self.deploy_id).values(
                step="watch", live_at=live_at,
                watch_until=live_at + dt.timedelta(seconds=watch) if watched else None))
        self.log.step(f"Live: v{release.version} serving"
                      + (f"; watching it for crashes for {watch:g} s" if watched else ""))

    def _watch(self, new: list[Instance]) -> str | None:
        """Which new instance crashed, and how, within the watch window after the switch; None if none did."""
        deadline = time.monotonic() + self.settings.watch_seconds
        while time.monotonic() < deadline:
            for instance in new:
                runtime = instance_service.runtime_of(self.platform, instance)
                state = runtime.state(instance.id)
                if state.status in CRASHED or state.restarts > 0:
                    why = f"{instance.id}: {state.last_exit_reason or state.status}"
                    self.log(why)
                    for line in runtime.logs(instance.id, 20):
                        self.log(f"  {line}")
                    return why
            time.sleep(0.1)
        return None

    def _switch_back(self, previous_live: int | None, old: list[str], new: list[str], *,
                     reapply: bool = True) -> None:
        with transaction(self.platform.sessions) as session:
            instance_service.mark(session, new, "stopping")
            instance_service.mark(session, old, "running")
            session.execute(update(App).where(App.id == self.app_id).values(live_release_id=previous_live))
            back = session.get(Release, previous_live) if previous_live else None
            cron_repo.apply(session, session.get(App, self.app_id, populate_existing=True),
                            back.config if back else {})
        if reapply:
            routing.apply(self.platform)
        self._stop_all(new)
        if not reapply:
            return
        if previous_live is None:
            raise DeployError("the new release crashed after the switch and there is no earlier release")
        self.log(f"traffic is back on the previous release ({len(old)} instances)")

    def _drain_and_stop(self, old: list[str]) -> None:
        if not old:
            return
        time.sleep(self.settings.drain_seconds)  # requests already routed to them finish
        self._stop_all(old)

    def _stop_all(self, instance_ids: list[str], *, tolerant: bool = False) -> None:
        for instance_id in instance_ids:
            try:
                instance_service.stop(self.platform, instance_id)
            except SlipwayError as exc:
                if not tolerant:
                    raise
                # already failing (e.g. the engine died): the reconciler stops it once it can
                self.log(f"could not stop {instance_id}: {exc.message}")
                continue
            self.log(f"stopped {instance_id}")

    def _prune(self) -> None:
        """Keep the newest releases (and the live one); delete artifacts no kept release uses."""
        keep = self.settings.release_retention
        with transaction(self.platform.sessions) as session:
            app = session.get(App, self.app_id)
            assert app is not None
            rows = list(session.scalars(select(Release).where(Release.app_id == app.id)
                                        .order_by(Release.version.desc())))
            # a failed release takes no kept slot: it can never be rolled back to, and a run of failed
            # attempts must not push out the good releases that a rollback needs (docs/guide.md, section 6)
            good = [r for r in rows if not r.failed]
            kept = good[:keep] + [r for r in rows if r.id == app.live_release_id]
            kept_paths = {r.artifact_path for r in kept}
            doomed = [r for r in rows if r not in kept and not r.pruned]
            for release in doomed:
                release.pruned = True
            paths = {r.artifact_path for r in doomed} - kept_paths
            images = {p for p in paths if p.startswith(f"slipway/{app.name}:")}  # ours; never a user's image
            paths = {p for p in paths if p.startswith("/")}
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        if images:
            runtime = self.platform.runtime_for("docker")
            assert isinstance(runtime, _docker_build().DockerRuntime)
            for ref in sorted(images):
                if not _docker_build().untag(runtime, ref):
                    self.log(f"could not remove the image {ref} (still in use?): it stays")
        if doomed:
            self.log(f"pruned {len(doomed)} old release(s)")

