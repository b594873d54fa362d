"""docs/asyncapi.json: current with the code, every stage queue in it, and ``FileReady`` sent
on ``file_imports``; the same whatever the environment (no local URL, no credential)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

from contracts import SPOOLED, Stage, Topology
from services.asyncapi import REGENERATE, SPOOL, render

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(render())


def test_regenerating_gives_the_committed_document_whatever_the_environment() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("INTAKE_")}
    env |= {
        "INTAKE_AMQP_URL": "amqp://someone:not-for-the-document@broker.internal:5999/vhost",
        "INTAKE_AMQP_PREFIX": "elsewhere",
        "INTAKE_NOTIFY_QUEUE": "other_imports",
    }
    generated = subprocess.run([sys.executable, "-m", "services", "asyncapi"], cwd=ROOT,
                               env=env, capture_output=True, text=True, check=True,
                               timeout=120).stdout
    assert generated == COMMITTED.read_text(), (
        f"docs/asyncapi.json is stale: regenerate it with `{REGENERATE}` and commit it")
    for leaked in ("not-for-the-document", "someone", "broker.internal", "elsewhere",
                   "other_imports", "localhost", "127.0.0.1"):
        assert leaked not in generated


def payloads(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """The schema names an operation's messages carry (each of a union's members)."""
    names = set()
    for reference in operation["messages"]:
        channel, _, message = reference["$ref"].removeprefix("#/channels/").partition(
            "/messages/")
        target = document["channels"][unquote(channel)]["messages"][message]["$ref"]
        body = document["components"]["messages"][unquote(target.rsplit("/", 1)[1])]
        payload = _schema(document, body["payload"]["$ref"])
        for member in payload.get("anyOf", [{"$ref": body["payload"]["$ref"]}]):
            names.add(member["$ref"].rsplit("/", 1)[1])
    return names


def _schema(document: dict[str, Any], ref: str) -> dict[str, Any]:
    return document["components"]["schemas"][unquote(ref.rsplit("/", 1)[1])]


def operations(document: dict[str, Any], action: str) -> dict[str, dict[str, Any]]:
    """Each operation of ``action`` by the channel it is on."""
    return {unquote(op["channel"]["$ref"].removeprefix("#/channels/")): op
            for op in document["operations"].values() if op["action"] == action}


def test_file_ready_is_sent_to_file_imports(document: dict[str, Any]) -> None:
    sent = {channel: op for channel, op in operations(document, "send").items()
            if payloads(document, op) == {"FileReady"}}
    assert list(sent) == ["file_imports:Publisher"]
    channel = document["channels"]["file_imports:Publisher"]
    assert channel["address"] == "file.ready"
    assert "the queue file_imports" in channel["description"]
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "intake.ready"
    binding = sent["file_imports:Publisher"]["bindings"]["amqp"]
    assert binding["deliveryMode"] == 2 and binding["mandatory"] is True  # persistent
    ready = _schema(document, "#/components/schemas/FileReady")
    assert {"file_id", "size", "sha256", "md5", "bucket", "object_key"} <= set(ready["required"])
    assert ready["properties"]["server"] == {"$ref": "#/components/schemas/ServerRef"}


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_queue_is_taken_and_sent_to_with_the_same_messages(
        document: dict[str, Any], stage: Stage) -> None:
    topology = Topology()
    spool = SPOOL.spool if stage in SPOOLED else None
    queue = topology.queue(stage, spool)
    received = operations(document, "receive")[queue]
    assert document["channels"][queue]["bindings"]["amqp"]["queue"]["name"] == queue
    assert document["channels"][queue]["address"] == topology.routing_key(stage, spool)
    sent = operations(document, "send")[f"{queue}:Publisher"]
    to = document["channels"][f"{queue}:Publisher"]
    assert to["address"] == topology.routing_key(stage, spool)
    assert to["bindings"]["amqp"]["exchange"]["name"] == topology.exchange
    taken = payloads(document, received)
    assert taken and payloads(document, sent) == taken


def test_the_server_is_a_placeholder(document: dict[str, Any]) -> None:
    assert document["servers"] == {"development": {
        "description": "The pipeline's RabbitMQ (INTAKE_AMQP_URL)", "host": "rabbitmq:5672",
        "pathname": "/", "protocol": "amqp", "protocolVersion": "0.9.1"}}


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def test_it_reads_as_asyncapi_3_and_every_reference_resolves(document: dict[str, Any]) -> None:
    ApplicationSchema.model_validate(document)  # what `faststream docs serve` reads it with
    refs = references(document)
    assert len(refs) > 50
    for ref in refs:
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and unquote(part) in target, f"dangling {ref}"
            target = target[unquote(part)]
