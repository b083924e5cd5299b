"""WeCom's official sample vector (sbzhu/weworkapi_python callback/Sample.py) and XML safety.

The vector proves the crypto matches the platform, not only itself: it was produced by WeCom's code.
"""

from __future__ import annotations

import pytest

from bot.channels.wecom.crypto import CallbackRejected, WeComCrypto, parse_raw_query, parse_xml

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"

GET_SIGNATURE = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"
GET_TIMESTAMP = "1476416373"
GET_NONCE = "47744683"
GET_ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
GET_PLAIN = "1288432023552776189"

POST_SIGNATURE = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
POST_TIMESTAMP = "1476422779"
POST_NONCE = "1597212914"
POST_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew"
    "+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24Yhm"
    "ZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwo"
    "cugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
POST_BODY = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[1000002]]></AgentID></xml>"
).encode()


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_official_url_verification_vector(crypto: WeComCrypto) -> None:
    params = {
        "msg_signature": GET_SIGNATURE,
        "timestamp": GET_TIMESTAMP,
        "nonce": GET_NONCE,
        "echostr": GET_ECHOSTR,
    }
    assert crypto.verify_url(params, now=float(GET_TIMESTAMP)) == GET_PLAIN


def test_official_message_vector(crypto: WeComCrypto) -> None:
    params = {"msg_signature": POST_SIGNATURE, "timestamp": POST_TIMESTAMP, "nonce": POST_NONCE}
    message = crypto.decrypt_body(POST_BODY, params, now=float(POST_TIMESTAMP) + 10)
    assert message["Content"] == "你好"
    assert message["FromUserName"] == "ChenJiaShun"
    assert message["MsgId"] == "1456453720"
    assert message["AgentID"] == "1000002"
    assert message["CreateTime"] == "1476422779"
    assert message["MsgType"] == "text"


def test_the_official_payload_uses_32_byte_padding() -> None:
    # The sample ends in 22 pad bytes: a 16-byte PKCS#7 unpadder would reject real traffic.
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES_KEY + "=")
    plain = (
        Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor().update(base64.b64decode(POST_ENCRYPT))
    )
    assert plain[-1] == 22
    assert plain.endswith(bytes([22]) * 22)


def test_our_encryption_round_trips_with_the_official_key(crypto: WeComCrypto) -> None:
    inner = "<xml><FromUserName><![CDATA[u1]]></FromUserName><MsgType><![CDATA[text]]></MsgType></xml>"
    encrypted, signature = crypto.encrypt(inner, timestamp="1700000000", nonce="42")
    assert crypto.sign("1700000000", "42", encrypted) == signature
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    params = {"msg_signature": signature, "timestamp": "1700000000", "nonce": "42"}
    assert crypto.decrypt_body(body, params, now=1_700_000_000)["FromUserName"] == "u1"


def test_wrong_corp_id_is_refused() -> None:
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    params = {"msg_signature": POST_SIGNATURE, "timestamp": POST_TIMESTAMP, "nonce": POST_NONCE}
    body = POST_BODY.replace(CORP_ID.encode(), b"ww0000000000000000")
    with pytest.raises(CallbackRejected, match="wrong CorpID"):
        other.decrypt_body(body, params, now=float(POST_TIMESTAMP))


def test_stale_timestamp_is_refused(crypto: WeComCrypto) -> None:
    params = {"msg_signature": POST_SIGNATURE, "timestamp": POST_TIMESTAMP, "nonce": POST_NONCE}
    with pytest.raises(CallbackRejected, match="stale"):
        crypto.decrypt_body(POST_BODY, params, now=float(POST_TIMESTAMP) + 301)
    with pytest.raises(CallbackRejected, match="stale"):
        crypto.decrypt_body(POST_BODY, params, now=float(POST_TIMESTAMP) - 301)


def test_raw_query_keeps_plus_and_decodes_percent() -> None:
    raw = "echostr=ab+cd%2Bef%2F%3D&nonce=1&&empty=&echostr=second"
    assert parse_raw_query(raw) == {"echostr": "ab+cd+ef/=", "nonce": "1", "empty": ""}


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>",
        b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>',
        b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><Encrypt>x</Encrypt></xml>',
    ],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_entity_and_dtd_attacks_are_refused(document: bytes) -> None:
    with pytest.raises(CallbackRejected, match="forbidden XML"):
        parse_xml(document)


@pytest.mark.parametrize("document", [b"", b"not xml", b"<xml><Encrypt>abc</Encr", b"<root><a>1</a></root>"])
def test_malformed_xml_is_refused(document: bytes) -> None:
    with pytest.raises(CallbackRejected):
        parse_xml(document)


def test_repeated_tags_become_lists() -> None:
    doc = b"<xml><S><I><K>q1</K></I><I><K>q2</K></I></S><One><I><K>q3</K></I></One></xml>"
    assert parse_xml(doc) == {"S": {"I": [{"K": "q1"}, {"K": "q2"}]}, "One": {"I": {"K": "q3"}}}


def test_bad_aes_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, "short", CORP_ID)
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, "!" * 43, CORP_ID)
