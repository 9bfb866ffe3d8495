"""HeroScript parsing against herolib's V parser, rule by rule, as `shared/reference/heroscript.md` writes
it down (the rule numbers below are the reference's), then the reference's bug-like behaviours, each
either copied or deliberately changed as the parser's docstring and the README say."""

from __future__ import annotations

import pytest

from heroagent.heroscript import HeroScriptError, name_fix, parse, parse_job

Parsed = list[tuple[str, str, dict[str, str], list[str]]]


def parsed(text: str) -> Parsed:
    return [(a.actor, a.name, a.params, a.args) for a in parse(text)]


def one(text: str) -> tuple[dict[str, str], list[str]]:
    (action,) = parse(text)
    return action.params, action.args


# ---------------------------------------------------------------- rule 1: the whole text


def test_rule_1_dedent_tabs_line_breaks_and_blank_lines() -> None:
    assert parsed("    !!a.b\n    \tk:v") == [("a", "b", {"k": "v"}, [])]  # dedented; a tab is 4 spaces
    assert parsed("!!a.b x:1\r\n  y:2\r  z:3\n\n\n  w:4") == [("a", "b", {"x": "1", "y": "2", "z": "3", "w": "4"}, [])]
    params, _ = one("!!a.b\n  t:'\n    one\n\n    two\n  '")  # blank lines are dropped, in values too
    assert params == {"t": "one\ntwo"}
    assert one("!!a.b t:'a\tb'")[0] == {"t": "a    b"}  # a tab inside quotes is 4 spaces too


# ---------------------------------------------------------------- rule 2: action start


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!!fake.return_success message:hi", [("fake", "return_success", {"message": "hi"}, [])]),
        ("!name a:1", [("core", "name", {"a": "1"}, [])]),  # one part: actor core
        ("   !!a.b", [("a", "b", {}, [])]),  # indented: still an action
        ("!!", [("core", "", {}, [])]),  # copied from V: actor core, name ""
        ("!!a.", [("a", "", {}, [])]),
        ("![diagram](x.png)\n!!a.b", [("a", "b", {}, [])]),  # a markdown image is not an action
    ],
)
def test_rule_2_action_start(text: str, expected: Parsed) -> None:
    assert parsed(text) == expected


def test_rule_2_kinds_and_errors() -> None:
    assert [a.kind for a in parse("!a.x\n!!a.y\n!!!a.z\n!!!!a.w")] == ["dal", "sal", "macro", "wal"]
    with pytest.raises(HeroScriptError, match=r"line 1: an action starts with 1 to 4 '!', not 5"):
        parse("!!!!!a.b")
    with pytest.raises(HeroScriptError, match=r"line 2: expected an action name 'actor\.name'"):
        parse("!!a.b\n!!a.b.c k:v")


# ---------------------------------------------------------------- rule 3: name_fix


@pytest.mark.parametrize(
    ("given", "fixed"),
    [
        ("My-Actor", "my_actor"),
        ("a--b", "a__b"),  # each separator becomes _ unless the previous input byte was _
        ("a_-b", "a_b"),
        ("a__b", "a_b"),  # a _ after _ is dropped
        ("do it;now:x.y", "do_it_now_x_y"),
        ("name#comment", "name"),  # from # on is dropped
        ("caf\u00e9!(x)", "cafx"),  # other characters are removed
    ],
)
def test_rule_3_name_fix(given: str, fixed: str) -> None:
    assert name_fix(given) == fixed


def test_rule_3_applies_to_actor_and_name() -> None:
    assert parsed("!!My-Actor.Do-It A:1") == [("my_actor", "do_it", {"a": "1"}, [])]


# ---------------------------------------------------------------- rule 4: continuation lines


def test_rule_4_only_two_space_lines_continue_and_other_text_is_ignored() -> None:
    text = (
        "# A playbook in markdown\n\nSome prose about it.\n\n"
        "!!a.one x:1\n  y:2\n one space: not params\n  z:3\n"
        "Back to prose.\n!!a.two k:v\n"
    )
    # " one space" ends !!a.one; "  z:3" after it belongs to no action and is ignored with the prose.
    assert parsed(text) == [("a", "one", {"x": "1", "y": "2"}, []), ("a", "two", {"k": "v"}, [])]


def test_rule_4_a_column_0_comment_or_quote_ends_the_action() -> None:
    assert parsed("!!a.b x:1\n// note\n  y:2\n!!a.c") == [("a", "b", {"x": "1"}, []), ("a", "c", {}, [])]


# ---------------------------------------------------------------- rule 5: params text


def test_rule_5_double_quotes_are_single_quotes() -> None:
    assert one('!!a.b message:"This is a test"')[0] == {"message": "This is a test"}
    assert one('!!a.b v:"it\\"s"')[0] == {"v": "it's"}  # \" comes out as '


def test_rule_5_lines_are_trimmed_and_joined_with_one_space() -> None:
    assert one("!!a.b t:'one\n      two\n   three'")[0] == {"t": "one two three"}


def test_rule_5_trailing_comments() -> None:
    (action,) = parse("!!a.b\n  k:v // the key's note\n  other:'x // y' // second\n  url:https://x.org/a")
    assert action.params == {"k": "v", "other": "x // y", "url": "https://x.org/a"}
    assert action.param_comments == {"k": "the key's note", "other": "second"}


@pytest.mark.parametrize("opener", ["'", "'''", '"', '"""'])
def test_rule_5_multi_line_blocks(opener: str) -> None:
    closer = opener
    text = (
        f"!!vm.define name:'test_vm' cpu:4\n    description:{opener}\n        A machine, it's\n"
        f"          indented\n    {closer}\n    memory: '8GB'"
    )
    assert one(text)[0] == {
        "name": "test_vm",
        "cpu": "4",
        "description": 'A machine, it"s\n  indented',
        "memory": "8GB",
    }


def test_rule_5_spaces_before_the_block_quote() -> None:
    assert one("!!a.b\n  text:   '\n    last\n    lines\n  '")[0] == {"text": "last\nlines"}  # up to 3 spaces
    assert one("!!a.b\n  text:    'x\n  y'")[0] == {"text": "x y"}  # 4 spaces: not an opener, a plain quote


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("!!a.b\n  text:'\n    last\n    lines", 2),  # V: the end of the text closes it
        ('!!a.b x:1\n  text:"""\n    never\n!!c.d y:2', 2),  # V: the next action ends it
        ("!!a.b\n  text:   '\n    half", 2),
    ],
)
def test_choice_a_multi_line_value_never_closed_is_an_error_naming_its_line(text: str, line: int) -> None:
    """Issue 31, item 9: a never-closed multi-line value was accepted (what it swallowed ran silently)."""
    with pytest.raises(HeroScriptError) as info:
        parse(text)
    assert info.value.line == line and "multi-line value" in str(info.value) and "never closed" in str(info.value)


@pytest.mark.parametrize("text", ["!!", "!!a.", "!!!", "!!a.b\n!!"])
def test_choice_a_job_action_with_no_name_is_an_error(text: str) -> None:
    """Issue 31, item 9: `!!` (V: actor core, name "") was accepted as a job that calls nothing."""
    assert parse(text)  # a playbook keeps V's reading
    with pytest.raises(HeroScriptError, match="names no action"):
        parse_job(text)


def test_rule_5_html_comment_lines_are_skipped() -> None:
    assert one("!!a.b x:1\n  <!-- a note -->\n  y:2")[0] == {"x": "1", "y": "2"}


# ---------------------------------------------------------------- rule 6: tokens


def test_rule_6_tokens() -> None:
    assert one("!!a.b first Second k:v")[1] == ["first", "Second"]
    assert one("!!a.b Key:V time:12:30:00")[0] == {"key": "V", "time": "12:30:00"}  # only the first : splits
    assert one("!!a.b a.b/c,d_e:1")[0] == {"a.b/c,d_e": "1"}
    assert one("!!a.b v:'it\\'s'")[0] == {"v": "it's"}
    assert one("!!a.b\n  name: 'TF Wallet'\n  preferred: false")[0] == {"name": "TF Wallet", "preferred": "false"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("!!a.b\n  ke$y:v", 2, "character '$' in key 'ke$y'"),
        ("!!a.b --verbose", 1, "character '-' in '--verbose'"),
        ("!!a.b\n  #note", 2, "character '#'"),
        ("!!a.b caf\u00e9", 1, "character '\u00e9'"),
        ("!!a.b 'loose'", 1, "a quoted value needs a key"),
    ],
)
def test_rule_6_characters_outside_the_key_set_are_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(HeroScriptError) as info:
        parse(text)
    assert info.value.line == line and message in str(info.value)


# ---------------------------------------------------------------- rule 7: comma lists


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("!!a.b l:a, b ,c", "a,b,c"),
        ("!!a.b l:Apple,'Dragon Fruit', 'Passion Fruit'", 'Apple,"Dragon Fruit","Passion Fruit"'),
        ("!!a.b l:'x', 'y'", "x,y"),  # quotes around single words removed
        ("!!a.b l:a,\n  b, c", "a,b,c"),  # a trailing comma carries on, even to the next line
        ("!!a.b l:'a b', c", '"a b",c'),  # a deliberate difference: V gives a b,"a b",c
    ],
)
def test_rule_7_comma_lists(text: str, value: str) -> None:
    assert one(text)[0] == {"l": value}


# ---------------------------------------------------------------- rule 8: value normalisation


def test_rule_8_normalisation() -> None:
    params, _ = one("!!a.b t:'one<BR>two<<BR>>three' n:'a\\\\nb' s:'  padded  '")
    assert params == {"t": "one\ntwo\nthree", "n": "a\nb", "s": "padded"}


def test_rule_8_args_are_not_normalised() -> None:
    with pytest.raises(HeroScriptError, match="character '<'"):
        parse("!!a.b Arg<BR>")


# ---------------------------------------------------------------- rule 9: duplicates and id


def test_rule_9_duplicates_id_and_no_types() -> None:
    params, args = one("!!a.b k:1 k:2 id:7 n:5 t:true p:%1.9 x x y")
    assert params == {"k": "2", "n": "5", "t": "true", "p": "%1.9"} and args == ["x", "y"]
    assert one("!!a.b Foo foo Foo")[1] == ["Foo", "foo"]  # copied from V's de-duplication


# ---------------------------------------------------------------- rule 10: comments


def test_rule_10_the_reference_example() -> None:
    (action,) = parse(
        "//comment for the action\n!!payment.add person:fatayera\n    name: 'TF Wallet'\n"
        "    blockchain: 'stellar' //holochain maybe?\n    preferred: false\n"
    )
    assert action.params == {"person": "fatayera", "name": "TF Wallet", "blockchain": "stellar", "preferred": "false"}
    assert action.comments == "comment for the action"
    assert action.param_comments == {"blockchain": "holochain maybe?"}
    assert action.kind == "sal" and action.line == 2 and action.number == 1


def test_rule_10_prose_between_comment_and_action_drops_the_comment() -> None:
    (action,) = parse("// about nothing\nprose\n!!a.b")
    assert action.comments == ""


# ---------------------------------------------------------------- the reference's bug-like behaviours


def test_choice_key_with_nothing_after_it_takes_the_next_token() -> None:
    assert one("!!a.b key:\n  value other:1")[0] == {"key": "value", "other": "1"}  # copied
    assert one("!!a.b x:1 key:")[0] == {"x": "1"}  # dropped at the very end, copied
    assert one("!!a.b key :v") == ({"": "v"}, ["key"])  # copied


def test_choice_mixed_quotes_are_errors_naming_the_quote() -> None:
    with pytest.raises(HeroScriptError, match="line 1: a value quoted with \" holds a '"):
        parse('!!a.b v:"it\'s"')
    with pytest.raises(HeroScriptError, match="line 2: a value quoted with ' holds a \""):
        parse("!!a.b\n  v:'say \"hi\"'")


@pytest.mark.parametrize(
    ("text", "line", "quote"),
    [("!!a.b k:'unclosed", 1, "'"), ('!!a.b\n  x:1\n  k:"unclosed', 3, '"')],
)
def test_choice_an_unclosed_quote_is_an_error_naming_its_quote(text: str, line: int, quote: str) -> None:
    with pytest.raises(HeroScriptError) as info:
        parse(text)
    assert info.value.line == line and f"a value opened with {quote} is never closed" in str(info.value)


def test_choice_an_unquoted_url_is_kept_whole() -> None:
    assert one("!!a.b url:https://x/y next:1")[0] == {"url": "https://x/y", "next": "1"}  # V: url=https:


def test_choice_a_block_opener_must_be_alone_on_its_line() -> None:
    with pytest.raises(HeroScriptError, match="line 2: a multi-line value"):
        parse("!!a.b\n  name:x desc:'\n    text\n  '")
    assert one("!!a.b\n  name:'x' desc:'y'")[0] == {"name": "x", "desc": "y"}  # a closing quote is not an opener


def test_the_other_reference_examples() -> None:
    assert parsed('!!fake.return_success\n    message: "This is a test job"') == [
        ("fake", "return_success", {"message": "This is a test job"}, [])
    ]
    params, _ = one(
        "!!vm.define name:'test_vm' cpu:4\n    memory: '8GB'\n    description: '\n"
        "        A virtual machine configuration\n    '\n"
    )
    assert params == {"name": "test_vm", "cpu": "4", "memory": "8GB", "description": "A virtual machine configuration"}


def test_numbering_and_lines() -> None:
    actions = parse("intro\n!!a.x\n\n!!a.y k:v")
    assert [(a.number, a.line) for a in actions] == [(1, 2), (2, 4)]


def test_a_job_needs_an_action() -> None:
    from heroagent.heroscript import parse_job

    assert parse("just prose") == []  # a playbook in markdown may have none
    with pytest.raises(HeroScriptError, match="line 1: no action found"):
        parse_job("message:hi")  # a job's params missing the !!actor.name line
    assert len(parse_job("# Deploy\n\n!!a.b k:v\n")) == 1
