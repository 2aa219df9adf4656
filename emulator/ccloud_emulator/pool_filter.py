"""Identity pool filters: the subset of CEL that real pools use, parsed and evaluated on JWT claims.

A small recursive-descent parser (nothing is handed to Python's eval) turns a filter into a tree,
and the tree is evaluated on a token's claims. The grammar, loosest binding first:

    filter   := or
    or       := and ( "||" and )*
    and      := relation ( "&&" relation )*
    relation := unary [ ( "==" | "!=" | "in" ) unary ]
    unary    := "!" unary | member
    member   := "(" or ")" | "has" "(" claim ")" | operand
    operand  := claim [ "." method "(" string ")" ] | string [ "." method "(" string ")" ]
              | list | integer | "true" | "false"
    claim    := "claims" ( "." name | "[" string "]" )+
    method   := "startsWith" | "endsWith" | "contains"
    list     := "[" [ literal ( "," literal )* ] "]"      (literal: string, integer, true, false)
    string   := '"' … '"' | "'" … "'"                    (escapes \\\\ \\" \\' \\n \\t)
    name     := a letter or _, then letters, digits or _

So `claims.aud == "confluent" && claims.group != "invalid_group"`, `claims.sub.startsWith("system:")`,
`"api://kafka" in claims.aud`, `has(claims.email) || !claims.internal` and
`claims['kubernetes.io'].namespace == 'prod'` all parse. As in CEL, `!` binds tighter than `==`
(`!claims.a == "x"` is `(!claims.a) == "x"`); `==`, `!=` and `in` do not chain. A filter (and each
side of `&&`, `||`, `!`) must be a condition: a comparison, `in`, `has`, a method call,
`true`/`false`, or a claim (which must then hold a boolean). Anything else (`<`, `+`, `=`, a bare
string, an unclosed quote or parenthesis, an unknown method) is a `FilterError` naming the problem
and where.

Evaluation follows CEL: `==` compares JSON values (a string never equals a number or a list; a
boolean never equals a number); `x in list` is membership, and `x in "s"` is `x == "s"` (an `aud`
is a string or a list of them); a claim that is not on the token, or an operator given the wrong
type (`startsWith` on a list), is an error, and an error absorbs like CEL's: `false && error` is
false, `true || error` true, anything else with an error is an error. `has(claims.a.b)` is false
when `a` is missing or not an object. A filter matches when it evaluates to true; false or an
error (reported with its reason) is no match.

It knows claims as JSON (dicts, lists, strings, numbers, booleans), nothing of JWTs or pools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["ClaimPath", "Filter", "FilterError", "Match", "parse_claim", "parse_filter"]


class FilterError(ValueError):
    """A filter or claim path that does not parse; the message says what and where."""


class _Kind(StrEnum):
    STRING = "string"
    NAME = "name"
    INT = "integer"
    OP = "operator"
    END = "end"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str
    value: Any
    at: int  # 1-based column, for messages


_OPERATORS = ("==", "!=", "&&", "||", "(", ")", "[", "]", ",", ".", "!")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[0-9]+")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
# operators people write that CEL has but these filters do not need
_UNSUPPORTED = ("<=", ">=", "<", ">", "+", "-", "*", "/", "%", "?", ":", "{", "}")
METHODS = ("startsWith", "endsWith", "contains")
# how deep parentheses and '!' may nest (a 300-character filter could otherwise exhaust the stack)
MAX_DEPTH = 32


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        at = i + 1
        if ch in "\"'":
            quote, j, chars = ch, i + 1, []
            while True:
                if j >= len(text):
                    raise FilterError(f"the string starting at character {at} is not closed")
                c = text[j]
                if c == quote:
                    break
                if c == "\\":
                    escaped = text[j + 1 : j + 2]
                    if escaped not in _ESCAPES:
                        raise FilterError(f"unknown escape '\\{escaped}' at character {j + 1}")
                    chars.append(_ESCAPES[escaped])
                    j += 2
                    continue
                chars.append(c)
                j += 1
            out.append(_Token(_Kind.STRING, text[i : j + 1], "".join(chars), at))
            i = j + 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            out.append(_Token(_Kind.OP, op, op, at))
            i += len(op)
            continue
        name = _NAME.match(text, i)
        if name is not None:
            out.append(_Token(_Kind.NAME, name.group(), name.group(), at))
            i = name.end()
            continue
        number = _INT.match(text, i)
        if number is not None:
            out.append(_Token(_Kind.INT, number.group(), int(number.group()), at))
            i = number.end()
            continue
        if ch == "=":
            raise FilterError(f"'=' at character {at}: compare with '=='")
        if ch in "&|":
            raise FilterError(f"'{ch}' at character {at}: write '{ch * 2}'")
        bad = next((o for o in _UNSUPPORTED if text.startswith(o, i)), ch)
        raise FilterError(f"'{bad}' at character {at} is not supported in an identity pool filter")
    out.append(_Token(_Kind.END, "", None, len(text) + 1))
    return out


# The tree. Each node evaluates to a JSON value or an _Error.


@dataclass(frozen=True)
class _Error:
    reason: str


@dataclass(frozen=True)
class ClaimPath:
    """`claims.a['b.c'].d`: the keys from the claims object down."""

    keys: tuple[str, ...]

    @property
    def text(self) -> str:
        return "claims" + "".join(f".{k}" if _NAME.fullmatch(k) else f"[{_quote(k)}]" for k in self.keys)

    def find(self, claims: dict[str, Any]) -> tuple[bool, Any]:
        """Whether the claim is on the token, and its value."""
        value = self.resolve(claims)
        return (False, None) if isinstance(value, _Error) else (True, value)

    def resolve(self, claims: dict[str, Any]) -> Any:
        """The claim's value, or an _Error when it is not on the token."""
        value: Any = claims
        for key in self.keys:
            if not isinstance(value, dict) or key not in value:
                return _Error(f"the token has no claim {self.text}")
            value = value[key]
        return value

    def evaluate(self, claims: dict[str, Any]) -> Any:
        return self.resolve(claims)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Literal:
    value: Any

    def evaluate(self, claims: dict[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True)
class _Has:
    path: ClaimPath

    def evaluate(self, claims: dict[str, Any]) -> Any:
        return not isinstance(self.path.resolve(claims), _Error)


@dataclass(frozen=True)
class _Method:
    target: _Node
    name: str
    argument: str

    def evaluate(self, claims: dict[str, Any]) -> Any:
        value = self.target.evaluate(claims)
        if isinstance(value, _Error):
            return value
        if not isinstance(value, str):
            return _Error(f"{self.name}() needs a string, and {_describe(self.target)} is {_type(value)}")
        if self.name == "startsWith":
            return value.startswith(self.argument)
        if self.name == "endsWith":
            return value.endswith(self.argument)
        return self.argument in value


@dataclass(frozen=True)
class _Compare:
    left: _Node
    op: str  # "==", "!=" or "in"
    right: _Node

    def evaluate(self, claims: dict[str, Any]) -> Any:
        left, right = self.left.evaluate(claims), self.right.evaluate(claims)
        if isinstance(left, _Error):
            return left
        if isinstance(right, _Error):
            return right
        if self.op == "==":
            return _equal(left, right)
        if self.op == "!=":
            return not _equal(left, right)
        if isinstance(right, list):
            return any(_equal(left, item) for item in right)
        if isinstance(right, str):
            return _equal(left, right)
        return _Error(f"'in' needs a list, and {_describe(self.right)} is {_type(right)}")


@dataclass(frozen=True)
class _Not:
    operand: _Node

    def evaluate(self, claims: dict[str, Any]) -> Any:
        value = _condition(self.operand, claims)
        return value if isinstance(value, _Error) else not value


@dataclass(frozen=True)
class _Logic:
    op: str  # "&&" or "||"
    operands: tuple[_Node, ...]

    def evaluate(self, claims: dict[str, Any]) -> Any:
        # CEL's commutative logic: a deciding operand wins over an error anywhere else
        deciding = self.op == "||"
        error: _Error | None = None
        for operand in self.operands:
            value = _condition(operand, claims)
            if isinstance(value, _Error):
                error = error or value
            elif value is deciding:
                return deciding
        return error if error is not None else not deciding


_Node = ClaimPath | _Literal | _Has | _Method | _Compare | _Not | _Logic


def _condition(node: _Node, claims: dict[str, Any]) -> bool | _Error:
    value = node.evaluate(claims)
    if isinstance(value, _Error | bool):
        return value
    return _Error(f"{_describe(node)} is {_type(value)}, not a boolean")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _describe(node: _Node) -> str:
    return node.text if isinstance(node, ClaimPath) else "the value"


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the filter nests more than {MAX_DEPTH} deep")

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, *ops: str) -> bool:
        return self.token.kind is _Kind.OP and self.token.text in ops

    def expect(self, op: str, what: str) -> _Token:
        if not self.at(op):
            raise self.error(f"expected '{op}' {what}")
        return self.take()

    def error(self, message: str) -> FilterError:
        token = self.token
        found = "the end" if token.kind is _Kind.END else f"'{token.text}'"
        return FilterError(f"{message} at character {token.at}, found {found}")

    def done(self) -> None:
        if self.token.kind is not _Kind.END:
            raise self.error("expected '&&', '||' or the end")

    def condition(self, node: _Node, where: str) -> _Node:
        if isinstance(node, _Literal) and not isinstance(node.value, bool):
            raise FilterError(f"{where} must be a condition, not the value {node.value!r}")
        return node

    def or_(self) -> _Node:
        operands = [self.and_()]
        while self.at("||"):
            self.take()
            operands.append(self.and_())
        if len(operands) == 1:
            return operands[0]
        return _Logic("||", tuple(self.condition(o, "each side of '||'") for o in operands))

    def and_(self) -> _Node:
        operands = [self.relation()]
        while self.at("&&"):
            self.take()
            operands.append(self.relation())
        if len(operands) == 1:
            return operands[0]
        return _Logic("&&", tuple(self.condition(o, "each side of '&&'") for o in operands))

    def relation(self) -> _Node:
        left = self.unary()
        if self.at("==", "!="):
            op = self.take().text
            return _Compare(left, op, self.unary())
        if self.token.kind is _Kind.NAME and self.token.text == "in":
            self.take()
            right = self.unary()
            if isinstance(right, _Literal) and not isinstance(right.value, list | str):
                raise FilterError(f"'in' needs a list or a claim, not the value {right.value!r}")
            return _Compare(left, "in", right)
        return left

    def unary(self) -> _Node:
        # as in CEL, '!' binds tighter than '==': !claims.a == "x" is (!claims.a) == "x"
        if self.at("!"):
            self.deeper()
            self.take()
            inner = _Not(self.condition(self.unary(), "what follows '!'"))
            self.depth -= 1
            return inner
        return self.member()

    def member(self) -> _Node:
        if self.at("("):
            self.deeper()
            self.take()
            inner = self.or_()
            self.expect(")", "to close '('")
            self.depth -= 1
            return inner
        if self.token.kind is _Kind.NAME and self.token.text == "has":
            self.take()
            self.expect("(", "after has")
            path = self.claim()
            self.expect(")", "to close has(")
            return _Has(path)
        return self.operand()

    def operand(self) -> _Node:
        token = self.token
        if token.kind is _Kind.STRING:
            self.take()
            return self.method(_Literal(token.value))
        if token.kind is _Kind.INT:
            self.take()
            return _Literal(token.value)
        if token.kind is _Kind.NAME and token.text in ("true", "false"):
            self.take()
            return _Literal(token.text == "true")
        if token.kind is _Kind.NAME and token.text == "claims":
            return self.method(self.claim())
        if self.at("["):
            return self.list_()
        if token.kind is _Kind.NAME:
            raise self.error("expected a claim (claims.…), a string, a list, a number, true or false")
        raise self.error("expected a condition or a value")

    def claim(self) -> ClaimPath:
        token = self.token
        if token.kind is not _Kind.NAME or token.text != "claims":
            raise self.error("expected a claim: claims.<name>")
        self.take()
        keys: list[str] = []
        while True:
            if self.at("."):
                following = self.tokens[self.i + 1]
                after = self.tokens[self.i + 2] if self.i + 2 < len(self.tokens) else following
                if following.kind is _Kind.NAME and after.kind is _Kind.OP and after.text == "(":
                    break  # a method call on the claim
                self.take()
                if self.token.kind is not _Kind.NAME:
                    raise self.error("expected a claim name after '.'")
                keys.append(self.take().text)
            elif self.at("["):
                self.take()
                if self.token.kind is not _Kind.STRING:
                    raise self.error("expected a quoted claim name in '[…]'")
                keys.append(self.take().value)
                self.expect("]", "to close '['")
            else:
                break
        if not keys:
            raise FilterError(f"'claims' at character {token.at} needs a claim name: claims.<name>")
        return ClaimPath(tuple(keys))

    def method(self, target: _Node) -> _Node:
        if not self.at("."):
            return target
        self.take()
        name = self.token
        if name.kind is not _Kind.NAME or name.text not in METHODS:
            raise self.error(f"expected a method: {', '.join(METHODS)}")
        self.take()
        self.expect("(", f"after {name.text}")
        if self.token.kind is not _Kind.STRING:
            raise self.error(f"{name.text}() takes a string")
        argument = self.take().value
        self.expect(")", f"to close {name.text}(")
        if self.at("."):
            raise self.error("a method call cannot be followed by '.'")
        return _Method(target, name.text, argument)

    def list_(self) -> _Literal:
        self.expect("[", "to open a list")
        items: list[Any] = []
        while not self.at("]"):
            token = self.token
            if token.kind in (_Kind.STRING, _Kind.INT):
                items.append(self.take().value)
            elif token.kind is _Kind.NAME and token.text in ("true", "false"):
                items.append(self.take().text == "true")
            else:
                raise self.error("a list holds strings, numbers, true or false")
            if not self.at("]"):
                self.expect(",", "between list items")
        self.take()
        return _Literal(items)


@dataclass(frozen=True)
class Match:
    """Whether the claims match; when not, why (the first error met, or a plain false)."""

    matched: bool
    reason: str = ""


@dataclass(frozen=True)
class Filter:
    """A parsed filter: `parse_filter(text).evaluate(claims)`."""

    text: str
    tree: _Node

    def evaluate(self, claims: dict[str, Any]) -> Match:
        value = _condition(self.tree, claims)
        if isinstance(value, _Error):
            return Match(False, value.reason)
        return Match(value, "" if value else "the token's claims do not satisfy it")


def parse_filter(text: str) -> Filter:
    """The filter `text` parsed; FilterError (a ValueError) says why it does not parse."""
    if not text.strip():
        raise FilterError("the filter is empty")
    parser = _Parser(text)
    tree = parser.or_()
    parser.done()
    parser.condition(tree, "the filter")
    return Filter(text, tree)


def parse_claim(text: str) -> ClaimPath:
    """An identity claim, `claims.sub` or `claims['kubernetes.io'].namespace`; FilterError if not."""
    parser = _Parser(text)
    path = parser.claim()
    if parser.token.kind is not _Kind.END:
        raise parser.error("expected the end of the claim")
    return path
