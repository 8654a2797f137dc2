"""Delivery through apprise to real servers on loopback: SMTP (aiosmtpd), an HTTP SMS
gateway and a webhook; failures are TransportErrors that say what to fix."""

from __future__ import annotations

import os


import pytest

from notifications.contacts import Contacts
from notifications.send import TransportError, deliver, targets
from tests.pg import free_port
from tests.sinks import HttpSink


def contacts(**kw) -> Contacts:
    data = {
        "version": 1,
        "participants": {
            "cc": {
                "name": "长春市市场监督管理局",
                "email": ["office@cc.example.gov.cn"],
                "phone": ["+8613800000001"],
                "head": {"email": ["head@cc.example.gov.cn"]},
            }
        },
    }
    data.update(kw)
    return Contacts.model_validate(data)


def email_server(port: int) -> dict:
    return {"host": "127.0.0.1", "port": port, "sender": "吉林省市场监管厅 <noreply@example.gov.cn>", "security": "none"}


def test_email_arrives_intact_in_chinese(smtp_server, tmp_path):
    c = contacts(email=email_server(smtp_server.port))
    (t,) = targets(c, "cc", "self", "email", os.environ)
    assert t.display == "email office@cc.example.gov.cn"
    body = "长春市市场监督管理局：\n\n请于2023年12月25日（星期一）前报送。\n第二行"
    deliver(t, "【临期提醒】提交年度提升成效表", body)
    (msg,) = smtp_server.messages
    assert msg["Subject"] == "【临期提醒】提交年度提升成效表"
    assert msg["To"] == "office@cc.example.gov.cn"
    assert msg["From"] == "吉林省市场监管厅 <noreply@example.gov.cn>"  # the sender's name, spaces and all
    assert msg.get_body().get_content().strip().splitlines() == body.splitlines()  # line breaks kept
    (eml,) = (tmp_path / "eml").glob("*.eml")
    assert "office@cc.example.gov.cn" in eml.name
    (head,) = targets(c, "cc", "head", "email", os.environ)
    assert head.display == "email head@cc.example.gov.cn"


def test_smtp_server_down_is_a_transient_failure():
    c = contacts(email=email_server(free_port()))
    (t,) = targets(c, "cc", "self", "email", os.environ)
    with pytest.raises(TransportError) as info:
        deliver(t, "s", "b")
    assert info.value.permanent is False
    assert "email office@cc.example.gov.cn" in str(info.value)


def test_sms_goes_to_the_gateway_with_phone_and_token(monkeypatch):
    monkeypatch.setenv("YW_TEST_SMS_TOKEN", "s3cret-token")
    with HttpSink() as gw:
        c = contacts(sms={"url": f"{gw.url}/sms/send", "token": {"env": "YW_TEST_SMS_TOKEN"}})
        (t,) = targets(c, "cc", "self", "sms", os.environ)
        assert "s3cret" not in t.display and "+8613800000001" not in t.display
        deliver(t, "主题", "【质量提升行动】长春市市场监督管理局：请按时报送。")
        (req,) = gw.requests
        assert req.path.startswith("/sms/send")
        assert req.json["phone"] == "+8613800000001"
        assert req.json["message"] == "【质量提升行动】长春市市场监督管理局：请按时报送。"
        assert req.headers["X-Token"] == "s3cret-token"
        gw.status = 500
        with pytest.raises(TransportError) as info:
            deliver(t, "主题", "正文")
        assert info.value.permanent is False and "s3cret" not in str(info.value)


def test_webhook_posts_json():
    with HttpSink() as hook:
        c = Contacts.model_validate({"version": 1, "participants": {"cc": {"webhook": {"url": f"{hook.url}/bridge"}}}})
        assert c.channels("cc") == ("webhook",)
        (t,) = targets(c, "cc", "self", "webhook", os.environ)
        deliver(t, "【逾期催办】", "正文\n第二行")
        (req,) = hook.requests
        assert req.path == "/bridge" and req.json["title"] == "【逾期催办】" and req.json["message"] == "正文\n第二行"


def test_a_missing_secret_is_permanent_and_names_the_variable(monkeypatch):
    monkeypatch.delenv("YW_TEST_DINGTALK", raising=False)
    c = Contacts.model_validate({"version": 1, "participants": {"cc": {"dingtalk": {"token": {"env": "YW_TEST_DINGTALK"}}}}})
    with pytest.raises(TransportError) as info:
        targets(c, "cc", "self", "dingtalk", os.environ)
    assert info.value.permanent and "YW_TEST_DINGTALK is not set" in str(info.value)


def test_unknown_participant_or_channel_is_permanent():
    c = contacts()
    with pytest.raises(TransportError, match="no contact for nobody") as info:
        targets(c, "nobody", "self", "email", os.environ)
    assert info.value.permanent
    with pytest.raises(TransportError, match="no email for cc"):
        targets(c, "cc", "self", "email", os.environ)  # no SMTP server configured


def test_chat_targets_are_built_for_the_public_endpoints_and_masked(monkeypatch):
    # DingTalk, WeCom and Feishu only reach their public endpoints, which this machine
    # cannot: check the apprise URLs they get and that no secret leaks into the display.
    monkeypatch.setenv("YW_DT", "0123456789abcdef0123456789")
    monkeypatch.setenv("YW_DT_SECRET", "SECabcdef01")
    monkeypatch.setenv("YW_WECOM", "wecom-key-0123456789")
    monkeypatch.setenv("YW_FEISHU", "feishutoken0123456789")
    c = Contacts.model_validate(
        {
            "version": 1,
            "participants": {
                "cc": {
                    "dingtalk": {"token": {"env": "YW_DT"}, "secret": {"env": "YW_DT_SECRET"}},
                    "wecom": {"key": {"env": "YW_WECOM"}},
                    "feishu": {"token": {"env": "YW_FEISHU"}},
                }
            },
        }
    )
    assert c.channels("cc") == ("dingtalk", "wecom", "feishu")
    import apprise

    for channel, schema in (("dingtalk", "dingtalk://"), ("wecom", "wecombot://"), ("feishu", "feishu://")):
        (t,) = targets(c, "cc", "self", channel, os.environ)
        assert t.url.startswith(schema)
        assert apprise.Apprise().add(t.url), f"apprise refuses {channel} URL"
        assert "0123456789" not in t.display and "SECabcdef01" not in t.display
        assert "0123456789" not in repr(t)


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1, and a server context holding it."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pem, keyfile)
    return pem, ctx


def test_starttls_still_verifies_the_server_certificate(tmp_path, monkeypatch):
    """apprise's TLS contexts are built lazily (notifications.send._LazyContext): plain SMTP
    skips the 20 ms CA load; STARTTLS must still verify the certificate."""
    from notifications.sink import SmtpSink

    pem, server_ctx = _self_signed(tmp_path)
    with SmtpSink(tls_context=server_ctx) as sink:
        c = contacts(email=email_server(sink.port) | {"security": "starttls"})
        (t,) = targets(c, "cc", "self", "email", os.environ)
        with pytest.raises(TransportError):  # an unknown issuer: refused (the only difference below)
            deliver(t, "不应送达", "b")
        assert sink.messages == []
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))  # now the issuer is trusted
        deliver(t, "加密送达", "正文")
        (msg,) = sink.messages
        assert msg["Subject"] == "加密送达"


# --------------------------------------------------------------------------- SMTP replies, deadlines, headers


def _email_target(port: int):
    (t,) = targets(contacts(email=email_server(port)), "cc", "self", "email", os.environ)
    return t


def test_a_refused_address_is_permanent_and_keeps_the_servers_reply(smtp_server):
    smtp_server.reject.add("office@cc.example.gov.cn")
    with pytest.raises(TransportError) as info:
        deliver(_email_target(smtp_server.port), "s", "b")
    assert (info.value.permanent, info.value.code, info.value.ambiguous) == (True, 550, False)
    assert "550" in str(info.value) and "mailbox unavailable" in str(info.value)


def test_a_busy_mailbox_is_transient_and_keeps_the_servers_reply(smtp_server):
    smtp_server.defer.add("office@cc.example.gov.cn")
    with pytest.raises(TransportError) as info:
        deliver(_email_target(smtp_server.port), "s", "b")
    assert (info.value.permanent, info.value.code) == (False, 451)
    assert "try again later" in str(info.value)


@pytest.mark.parametrize(
    ("reply", "permanent"), [("452 4.3.1 insufficient storage", False), ("554 5.7.1 rejected as spam", True)]
)
def test_the_reply_to_the_message_itself_decides(smtp_server, reply, permanent):
    smtp_server.data_reply = reply
    with pytest.raises(TransportError) as info:
        deliver(_email_target(smtp_server.port), "s", "b")
    assert (info.value.permanent, info.value.code) == (permanent, int(reply[:3]))
    assert smtp_server.messages == []


def test_message_id_and_date_are_the_ones_given(smtp_server):
    import datetime as dt

    from models.timeline import TZ

    when = dt.datetime(2023, 12, 25, 1, 0, tzinfo=dt.timezone.utc)  # 09:00 in Shanghai
    done = deliver(_email_target(smtp_server.port), "s", "b", message_id="<abc123@example.gov.cn>", sent_at=when)
    (msg,) = smtp_server.messages
    assert msg.get_all("Message-ID") == ["<abc123@example.gov.cn>"]  # exactly one, ours
    assert msg.get_all("Date") == ["Mon, 25 Dec 2023 09:00:00 +0800"]
    assert done.code == 250
    assert when.astimezone(TZ).hour == 9


@pytest.mark.slow
def test_a_reply_that_never_ends_is_cut_at_the_deadline_and_called_ambiguous():
    import threading

    from tests.sinks import TricklingSmtp

    with TricklingSmtp(every=0.3) as server:
        errors: list[BaseException] = []

        def send() -> None:
            try:
                deliver(_email_target(server.port), "s", "b", deadline=2.0)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=send)
        t.start()
        t.join(60)  # a hang guard, not a timing assertion: without the deadline this never returns
        assert not t.is_alive(), "the send outlived its deadline"
    (exc,) = errors
    assert isinstance(exc, TransportError) and exc.ambiguous and not exc.permanent
    assert "may have taken" in str(exc) and server.received == 1


def test_a_server_that_drops_the_connection_after_the_data_is_ambiguous(smtp_server):
    smtp_server.drop_after_data = True
    with pytest.raises(TransportError) as info:
        deliver(_email_target(smtp_server.port), "s", "b")
    assert info.value.ambiguous and not info.value.permanent
    assert len(smtp_server.messages) == 1  # it did take it


@pytest.mark.slow
def test_a_slow_final_reply_is_waited_for_rather_than_sent_twice(smtp_server):
    # apprise's own socket timeout is 15 s; a server answering after 16 s still gets one copy
    smtp_server.delay = 16.5
    done = deliver(_email_target(smtp_server.port), "s", "b", deadline=40)
    assert done.code == 250 and len(smtp_server.messages) == 1
