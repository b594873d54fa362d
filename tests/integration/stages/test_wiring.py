"""Each stage's ``create_app`` subscribes its handlers to its stages' queues (a copy's
stages to its spool's) and hands them its dependencies: checked through FastStream's
TestRabbitBroker, no broker needed."""

from typing import Any

from faststream.rabbit import TestRabbitBroker

from contracts import SPOOLED, FileDiscovered, Stage, Topology
from infra.broker import retry_queue
from services.downloader.handlers import DownloaderDeps
from services.downloader.main import create_app as downloader_app
from services.downloader.settings import DownloaderSettings
from services.notifier.handlers import NotifierDeps
from services.notifier.main import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.uploader.handlers import UploaderDeps
from services.uploader.main import create_app as uploader_app
from services.uploader.settings import UploaderSettings


def _queues(app: Any) -> set[str]:
    return {subscriber.queue.name for subscriber in app.broker.subscribers}


def test_every_stage_subscribes_its_queues_with_its_deps(stage_settings) -> None:
    topology = Topology(stage_settings["amqp_prefix"])
    for create_app, settings_class, deps_class, stages in (
        (downloader_app, DownloaderSettings, DownloaderDeps, {Stage.DISCOVERED}),
        (uploader_app, UploaderSettings, UploaderDeps, {Stage.DOWNLOADED, Stage.DOWNLOADING}),
        (notifier_app, NotifierSettings, NotifierDeps, {Stage.STORED}),
    ):
        app = create_app(settings_class.model_validate(stage_settings))
        assert _queues(app) == {
            topology.queue(stage, stage_settings["spool_id"] if stage in SPOOLED else None)
            for stage in stages}
        assert isinstance(app.context.get("deps"), deps_class)


async def test_a_message_reaches_the_handler_with_the_apps_deps(stage_settings) -> None:
    """A full spool is the one path that needs neither database nor SFTP: the handler
    sends the message to the retry queue through the app's own publisher."""
    settings = DownloaderSettings.model_validate({**stage_settings,
                                                  "spool_reserve_bytes": 10**18})
    app = downloader_app(settings)
    delayed: list[FileDiscovered] = []

    @app.broker.subscriber(retry_queue(settings.topology, Stage.DISCOVERED))
    async def collect(msg: FileDiscovered) -> None:
        delayed.append(msg)

    message = FileDiscovered(file_id="00000000-0000-0000-0000-000000000001", server_id=1,
                             remote_path="/in/a.csv", size=10)
    async with TestRabbitBroker(app.broker) as broker:
        await broker.publish(message, exchange=settings.topology.exchange,
                             routing_key=settings.topology.routing_key(Stage.DISCOVERED))

    assert delayed == [message]
