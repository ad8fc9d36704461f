"""The admin surface with real clients: librdkafka's AdminClient (CreateTopics, DeleteTopics,
DeleteRecords, DescribeConfigs), topic auto-creation by a producer's Metadata request, a
consumer reset to the log start offset after DeleteRecords, the fast failure of a produce to an
unknown topic with --no-auto-create-topics, and kafka-python's KafkaAdminClient."""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient
from kafka.admin import NewTopic as KNewTopic
from kafka.errors import TopicAlreadyExistsError


def results(futures):
    """{name: None | KafkaError code} of an AdminClient call."""
    out = {}
    for key, f in futures.items():
        try:
            f.result()
            out[key] = None
        except Exception as e:  # noqa: BLE001 - the KafkaException carries the code
            out[key] = e.args[0].code()
    return out


def test_confluent_admin_topics_records_and_configs(spawn):
    broker, _ = spawn.broker()
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    created = results(a.create_topics(
        [NewTopic("made", 3), NewTopic("t", 1), NewTopic("bad name", 1)], operation_timeout=10))
    assert created == {"made": None, "t": KafkaError.TOPIC_ALREADY_EXISTS,
                       "bad name": KafkaError.TOPIC_EXCEPTION}
    md = a.list_topics(timeout=10)
    assert sorted(md.topics) == ["made", "t"]
    assert len(md.topics["made"].partitions) == 3

    # Auto-creation: the producer's Metadata request creates the topic (num.partitions = 1).
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    errors = []
    for i in range(10):
        p.produce("auto", value=f"v{i}", on_delivery=lambda e, m: errors.append(e) if e else None)
    assert p.flush(30) == 0
    assert errors == []
    assert len(a.list_topics(timeout=10).topics["auto"].partitions) == 1

    # DeleteRecords: the low watermark becomes 4; a consumer at 0 is out of range and resets
    # (auto.offset.reset=earliest) to the log start offset.
    deleted = a.delete_records([TopicPartition("auto", 0, 4)])
    for f in deleted.values():
        assert f.result().low_watermark == 4
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "admin",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    assert c.get_watermark_offsets(TopicPartition("auto", 0), timeout=10) == (4, 10)
    c.assign([TopicPartition("auto", 0, 0)])
    got, deadline = [], time.time() + 30
    while len(got) < 6 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append((m.offset(), m.value()))
    c.close()
    assert got == [(i, f"v{i}".encode()) for i in range(4, 10)]

    configs = a.describe_configs([ConfigResource("topic", "made"), ConfigResource("broker", "0")])
    topic_cfg, broker_cfg = [f.result() for f in configs.values()]
    assert topic_cfg["cleanup.policy"].value == "delete"
    assert topic_cfg["message.timestamp.type"].value == "CreateTime"
    assert topic_cfg["max.message.bytes"].value == "1048588"
    assert broker_cfg["auto.create.topics.enable"].value == "true"

    assert results(a.delete_topics(["made", "nope"], operation_timeout=10)) == {
        "made": None, "nope": KafkaError.UNKNOWN_TOPIC_OR_PART}
    assert sorted(a.list_topics(timeout=10).topics) == ["auto", "t"]


def test_produce_to_unknown_topic_fails_fast_without_auto_creation(spawn):
    broker, _ = spawn.broker("--no-auto-create-topics")
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  # librdkafka waits this long for a topic to appear before failing (30 s
                  # by default, a client rule); the broker answers UNKNOWN_TOPIC_OR_PARTITION.
                  "topic.metadata.propagation.max.ms": 1000})
    p.produce("missing", value="x", on_delivery=lambda e, m: errors.append(e))
    assert p.flush(30) == 0
    assert [e.code() for e in errors] == [KafkaError.UNKNOWN_TOPIC_OR_PART]
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert sorted(md.topics) == ["t"]


def test_kafka_python_admin(spawn):
    broker, _ = spawn.broker("--default-partitions", "2")
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    r = a.create_topics([KNewTopic("kp", 3, 1)])
    assert r["topics"][0]["error_code"] == 0 and r["topics"][0]["num_partitions"] == 3
    try:
        a.create_topics([KNewTopic("kp", 3, 1)])
        raise AssertionError("created twice")
    except TopicAlreadyExistsError:
        pass
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
    for i in range(5):
        p.send("kp-auto", value=b"v", partition=1)
    p.flush(30)
    p.close()
    assert len(a.describe_topics(["kp-auto"])[0]["partitions"]) == 2
    lw = a.delete_records({KTopicPartition("kp-auto", 1): 3})
    assert lw[KTopicPartition("kp-auto", 1)]["low_watermark"] == 3
    # kafka-python's default filter keeps only non-default values: none here.
    assert a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "kp")]) == {
        "topic": {"kp": {}}}
    cfg = a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "kp")],
                             config_filter="all")["topic"]["kp"]
    assert cfg["cleanup.policy"]["value"] == "delete"
    assert cfg["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"
    a.delete_topics(["kp"])
    assert sorted(a.list_topics()) == ["kp-auto", "t"]
    a.close()
