"""What the admin API shows of a server's list (Catalog.served): its entries as it sent them, the
name clients see, and why a collided name reaches nobody."""

from __future__ import annotations

from upstream.routing.catalog import TOOLS, Catalog, Namespace


def test_a_server_s_list_with_the_names_clients_see_and_its_collisions() -> None:
    catalog = Catalog(TOOLS, Namespace({"plain": ""}, "__"), ["plain", "files"])
    assert catalog.served("plain") is None  # not listed yet
    catalog.install(
        {
            "plain": [{"name": "files__read"}, {"name": "mine", "description": "one of mine"}, {"id": 3}],
            "files": [{"name": "read", "description": "read a file"}],
        }
    )
    plain, files = catalog.served("plain"), catalog.served("files")
    assert plain is not None and files is not None
    assert [(s.key, s.item.get("description")) for s in plain] == [
        ("files__read", None),
        ("mine", "one of mine"),
    ]
    assert plain[1].refused is None
    assert files[0].refused is None  # a prefixed name is its namespace's
    assert plain[0].refused is not None and "falls in the namespace of server 'files'" in plain[0].refused
    assert files[0].item == {"name": "read", "description": "read a file"}  # as the server sent it
    assert catalog.served("nope") is None
    twice = Catalog(TOOLS, Namespace({"a": "", "b": ""}, "__"), ["a", "b"])
    twice.install({"a": [{"name": "same"}], "b": [{"name": "same"}, {"name": "own"}]})
    a, b = twice.served("a"), twice.served("b")
    assert a is not None and b is not None
    assert a[0].refused == b[0].refused and "is offered by servers 'a' and 'b'" in (a[0].refused or "")
    assert b[1].refused is None
