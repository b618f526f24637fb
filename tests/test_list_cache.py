"""The per-process GetImItemList cache: served only while the list's version is current."""

from openucs.ops.cache import ListCache
from tests.conftest import PASSWORD
from tests.support import HttpClient, ServerProcess


def test_a_write_through_another_process_is_seen_at_once(database_url, alice):
    # Two server processes on one database: each has its own cache, the version is shared.
    first = ServerProcess(database_url).start()
    second = ServerProcess(database_url).start()
    try:
        a = HttpClient(first.base_url, alice.email, PASSWORD)
        b = HttpClient(second.base_url, alice.email, PASSWORD)
        assert "Work" not in a.item_list().groups
        assert "Work" not in a.item_list().groups  # now answered from the first process's cache
        b.call("<m:AddImGroup><m:DisplayName>Work</m:DisplayName></m:AddImGroup>").ok()
        assert "Work" in a.item_list().groups
        b.call("<m:AddNewImContactToGroup><m:ImAddress>carol@example.org</m:ImAddress></m:AddNewImContactToGroup>")
        assert "carol@example.org" in a.item_list().personas
        a.close()
        b.close()
    finally:
        first.stop()
        second.stop()


def test_cached_answers_follow_the_request_version_and_properties(client):
    plain = client.call("<m:GetImItemList/>", version="Exchange2013").ok()
    newer = client.call("<m:GetImItemList/>", version="V2018_01_08").ok()
    assert plain.root.find(".//{*}ServerVersionInfo").get("Version") == "Exchange2013"
    assert newer.root.find(".//{*}ServerVersionInfo").get("Version") == "V2018_01_08"


def test_only_the_newest_answer_per_mailbox_and_a_byte_bound():
    cache = ListCache(max_bytes=1000)
    cache.put(1, ("v1",), b"a" * 100)
    cache.put(1, ("v2",), b"b" * 100)
    assert cache.get(1, ("v1",)) is None
    assert cache.get(1, ("v2",)) == b"b" * 100
    assert len(cache) == 1 and cache.size == 100
    for mailbox in range(2, 12):
        cache.put(mailbox, ("v",), b"c" * 200)
    assert cache.size <= 1000
    assert cache.get(1, ("v2",)) is None  # the least recently used left first
    assert cache.get(11, ("v",)) == b"c" * 200
    cache.put(99, ("v",), b"d" * 600)  # more than a quarter of the budget: not kept
    assert cache.get(99, ("v",)) is None
