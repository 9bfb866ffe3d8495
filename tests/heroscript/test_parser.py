"""HeroScript parsing, case by case, against the reference semantics in shared/reference/heroscript.md."""

from __future__ import annotations

import pytest

from heroagent.heroscript import HeroScriptError, parse

CASES: list[tuple[str, str, list[tuple[str, str, dict[str, str], list[str]]]]] = [
    ("sal", "!!fake.return_success message:hi", [("fake", "return_success", {"message": "hi"}, [])]),
    ("dal (one !)", "!name a:1", [("core", "name", {"a": "1"}, [])]),
    ("macro (three !)", "!!!include path:x", [("core", "include", {"path": "x"}, [])]),
    ("name fix", "!!My-Actor.Do-It A:1", [("my_actor", "do_it", {"a": "1"}, [])]),
    ("single quotes", "!!a.b name:'TF Wallet'", [("a", "b", {"name": "TF Wallet"}, [])]),
    ("double quotes", '!!a.b message:"This is a test"', [("a", "b", {"message": "This is a test"}, [])]),
    ("escaped quote", "!!a.b v:'it\\'s'", [("a", "b", {"v": "it's"}, [])]),
    ("space after colon", "!!a.b\n  name: 'x y'", [("a", "b", {"name": "x y"}, [])]),
    ("comma list", "!!a.b l:a, b ,c", [("a", "b", {"l": "a,b,c"}, [])]),
    ("comma list re-quotes", "!!a.b l:'x y', z", [("a", "b", {"l": "'x y',z"}, [])]),
    ("positional", "!!a.b first second k:v", [("a", "b", {"k": "v"}, ["first", "second"])]),
    ("id dropped", "!!a.b id:7 k:v", [("a", "b", {"k": "v"}, [])]),
    ("keys lowercased", "!!a.b Key:V", [("a", "b", {"key": "V"}, [])]),
    ("key chars", "!!a.b a.b/c,d_e:1", [("a", "b", {"a.b/c,d_e": "1"}, [])]),
    ("br", "!!a.b t:'one<BR>two<<BR>>three'", [("a", "b", {"t": "one\ntwo\nthree"}, [])]),
    ("url value", "!!a.b url:http://x.org/a", [("a", "b", {"url": "http://x.org/a"}, [])]),
    (
        "multi-line value",
        "!!vm.define name:'test_vm' cpu:4\n    memory: '8GB'\n    description: '\n"
        "        A virtual machine\n          indented\n    '\n",
        [
            (
                "vm",
                "define",
                {"name": "test_vm", "cpu": "4", "memory": "8GB", "description": "A virtual machine\n  indented"},
                [],
            )
        ],
    ),
    (
        "triple-quoted multi-line",
        "!!a.b text:'''\n  line one\n  line two\n  '''",
        [("a", "b", {"text": "line one\nline two"}, [])],
    ),
    (
        "two actions, comments, blank lines",
        "// first\n!!a.one x:1\n\n  y:2\n// second\n!!a.two\n",
        [("a", "one", {"x": "1", "y": "2"}, []), ("a", "two", {}, [])],
    ),
    ("tabs and dedent", "    !!a.b\n    \tk:v", [("a", "b", {"k": "v"}, [])]),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cases(name: str, text: str, expected: list[tuple[str, str, dict[str, str], list[str]]]) -> None:
    actions = parse(text)
    assert [(a.actor, a.name, a.params, a.args) for a in actions] == expected


def test_reference_example_with_comments() -> None:
    (action,) = parse(
        "//comment for the action\n!!payment.add person:fatayera\n    name: 'TF Wallet'\n"
        "    blockchain: 'stellar' //holochain maybe?\n    preferred: false\n"
    )
    assert action.params == {"person": "fatayera", "name": "TF Wallet", "blockchain": "stellar", "preferred": "false"}
    assert action.comments == "comment for the action"
    assert action.param_comments == {"blockchain": "holochain maybe?"}
    assert action.kind == "sal" and action.line == 2 and action.number == 1


def test_kinds_and_numbering() -> None:
    actions = parse("!a.x\n!!a.y\n!!!a.z\n!!!!a.w")
    assert [a.kind for a in actions] == ["dal", "sal", "macro", "wal"]
    assert [a.number for a in actions] == [1, 2, 3, 4]


def test_markdown_image_is_not_an_action() -> None:
    with pytest.raises(HeroScriptError, match="line 1"):
        parse("![diagram](x.png)")


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("!!!!!a.b", 1, "1 to 4 '!'"),
        ("!!a.b.c k:v", 1, "expected an action name 'actor.name'"),
        ("!!", 1, "expected an action name"),
        ("!!a.b k:'unclosed", 1, "never closed"),
        ("!!a.b\n  text:'\n  more\n", 3, "never closed"),
        ("!!a.b\nk:v", 2, "indented by two spaces"),
        ("hello", 1, "expected an action"),
        ("!!a.b\n  ke$y:v", 2, "character '$' in key"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, expected: str) -> None:
    with pytest.raises(HeroScriptError) as info:
        parse(text)
    assert info.value.line == line
    assert f"line {line}" in str(info.value)
    assert expected in str(info.value)
