from tests.support import envelope


def test_empty_mailbox_lists_three_system_groups(client):
    state = client.item_list()
    assert {n: g["type"] for n, g in state.groups.items()} == {
        "Favorites": "IPM.DistList.MOC.Favorites",
        "Other Contacts": "IPM.DistList.MOC.OtherContacts",
        "Tagged": "IPM.DistList.MOC.Tagged",
    }
    assert state.personas == {}


def test_sipe_flow_over_http(server, alice):
    from tests.conftest import PASSWORD
    from tests.support import HttpClient

    c = HttpClient(server.base_url, "alice@example.com", PASSWORD)
    g = c.call("<m:AddImGroup><m:DisplayName>Work</m:DisplayName></m:AddImGroup>").ok().group_ref()
    p = c.call(
        f'<m:AddNewImContactToGroup><m:ImAddress>bob@example.com</m:ImAddress><m:GroupId Id="{g.id}" '
        f'ChangeKey="{g.change_key}"/></m:AddNewImContactToGroup>'
    ).ok()
    state = c.item_list()
    assert state.members_of("Work") == {"bob@example.com"}
    r = c.post(envelope("<m:AddImGroup/>"))
    r.fault("ErrorSchemaValidation")
    c.close()
