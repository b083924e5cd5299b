"""Callback security: signature, timestamp, AES and CorpID checks, and safe XML parsing.

wechatpy's `WeChatCrypto` (module `wechatpy.enterprise` in 1.8.18) does the signature and the
AES-256-CBC work with WeCom's 32-byte PKCS#7 blocks; every XML document — the outer envelope and
the decrypted message — is parsed here with defusedxml, never with wechatpy's xmltodict, so there is
one parser for untrusted input and it refuses DTDs and entities.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

_SIGNATURE_RE = re.compile(r"^[0-9a-f]{40}$")
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_MAX_NONCE_LEN = 64
_MAX_ECHOSTR_LEN = 4096

XmlValue = str | dict[str, Any] | list[Any]


class CallbackRejected(Exception):
    """A callback that must be refused with `status` (4xx) and a log line giving `reason`."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def parse_raw_query(raw: str) -> dict[str, str]:
    """Decode a raw query string without turning `+` into a space.

    `echostr` is base64 and may carry a literal `+` (proxies, hand-made requests); aiohttp's
    `request.query` follows HTML-form rules and would turn it into a space, breaking the signature.
    The first occurrence of a repeated key wins.
    """
    params: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params.setdefault(unquote(key), unquote(value))
    return params


def _element_value(element: ET.Element) -> XmlValue:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag in result:
            # Repeated tags (several SelectedItem) become a list, in document order.
            previous = result[child.tag]
            result[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[child.tag] = value
    return result


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """Parse a WeCom `<xml>…</xml>` document into a dict of its children (nested for sub-elements)."""
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CallbackRejected(f"forbidden XML construct ({type(exc).__name__})") from exc
    except (ET.ParseError, ValueError) as exc:
        raise CallbackRejected("malformed XML") from exc
    if root.tag != "xml":
        raise CallbackRejected(f"unexpected XML root <{root.tag[:32]}>")
    value = _element_value(root)
    return value if isinstance(value, dict) else {}


class WeComCrypto:
    """Verifies and decrypts WeCom callbacks for one app (Token, EncodingAESKey, CorpID)."""

    def __init__(self, token: str, aes_key: str, corp_id: str, *, max_clock_skew_seconds: int = 300) -> None:
        if len(aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            self._crypto = WeChatCrypto(token, aes_key, corp_id)
        except (AssertionError, binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey is not valid base64 of a 32-byte key") from exc
        self.corp_id = corp_id
        self.max_clock_skew_seconds = max_clock_skew_seconds

    # -- checks shared by GET and POST ------------------------------------------------------
    def _check_params(self, params: Mapping[str, str], now: float, *extra: str) -> tuple[str, str, str]:
        for name in ("msg_signature", "timestamp", "nonce", *extra):
            if not params.get(name):
                raise CallbackRejected(f"missing query parameter {name}")
        signature, timestamp, nonce = params["msg_signature"], params["timestamp"], params["nonce"]
        if not _SIGNATURE_RE.match(signature):
            raise CallbackRejected("malformed msg_signature", 403)
        if not _TIMESTAMP_RE.match(timestamp):
            raise CallbackRejected("malformed timestamp")
        if len(nonce) > _MAX_NONCE_LEN:
            raise CallbackRejected("nonce too long")
        if abs(now - int(timestamp)) > self.max_clock_skew_seconds:
            # A replayed capture carries its old, correctly signed timestamp.
            raise CallbackRejected("stale timestamp", 403)
        return signature, timestamp, nonce

    def verify_url(self, params: Mapping[str, str], *, now: float) -> str:
        """GET URL verification: returns the decrypted echostr to answer with."""
        signature, timestamp, nonce = self._check_params(params, now, "echostr")
        echostr = params["echostr"]
        if len(echostr) > _MAX_ECHOSTR_LEN:
            raise CallbackRejected("echostr too long")
        try:
            return self._crypto.check_signature(signature, timestamp, nonce, echostr)
        except InvalidSignatureException as exc:
            raise CallbackRejected("bad signature", 403) from exc
        except InvalidCorpIdException as exc:
            raise CallbackRejected("wrong CorpID", 403) from exc
        except (ValueError, TypeError, IndexError, struct.error, binascii.Error, UnicodeDecodeError) as exc:
            raise CallbackRejected("undecryptable echostr") from exc

    def decrypt_body(self, body: bytes, params: Mapping[str, str], *, now: float) -> dict[str, Any]:
        """POST: verify the envelope and return the decrypted message as a dict."""
        signature, timestamp, nonce = self._check_params(params, now)
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise CallbackRejected("no Encrypt element")
        to_user = envelope.get("ToUserName")
        if isinstance(to_user, str) and to_user and to_user != self.corp_id:
            raise CallbackRejected("wrong CorpID in envelope", 403)
        try:
            inner = self._crypto.decrypt_message({"Encrypt": encrypted}, signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise CallbackRejected("bad signature", 403) from exc
        except InvalidCorpIdException as exc:
            raise CallbackRejected("wrong CorpID", 403) from exc
        except (ValueError, TypeError, IndexError, struct.error, binascii.Error, UnicodeDecodeError) as exc:
            raise CallbackRejected("undecryptable payload") from exc
        return parse_xml(inner.encode("utf-8"))

    # -- the platform's side, for the fake server and the benchmark -------------------------
    def encrypt(self, inner_xml: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """Encrypt a message as WeCom does; returns (Encrypt text, msg_signature)."""
        envelope = parse_xml(self._crypto.encrypt_message(inner_xml, nonce, timestamp).encode("utf-8"))
        return str(envelope["Encrypt"]), str(envelope["MsgSignature"])

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """The platform's signing rule: sha1 of the sorted, concatenated four strings."""
        parts = sorted([self._crypto.token, timestamp, nonce, encrypted])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()
