"""The hosted pages the customer sees: the card form of a Checkout Session, the 3-D Secure
test challenge, and the page that says a session is closed. Plain HTML forms (no
JavaScript), a label for every field, card autocomplete hints, readable on a phone. Every
value is escaped; a card number or CVC is never written back into a page."""

from __future__ import annotations

from html import escape
from typing import Any

from .cards import TEST_CARDS, format_amount, grouped

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a2e;background:#f4f5f7}
main{max-width:32rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.75rem;padding:1.25rem;margin:0 0 1rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:.25rem 0 1rem}
h2{font-size:1.125rem;margin:0 0 .5rem}
.sandbox{background:#fff4d6;border:1px solid #e0b000;border-radius:.5rem;padding:.5rem .75rem;
margin:0 0 1rem;font-weight:600}
.items{list-style:none;margin:0;padding:0}
.items li,.total{display:flex;justify-content:space-between;gap:1rem;padding:.25rem 0}
.total{border-top:1px solid #ddd;margin:.5rem 0 0;padding-top:.5rem;font-weight:700}
.hold{color:#444}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;font:inherit;padding:.65rem .75rem;border:1px solid #767676;border-radius:.5rem}
input:focus{outline:3px solid #5b8def;outline-offset:1px}
.row{display:flex;gap:.75rem}.row>div{flex:1}
button{width:100%;font:inherit;font-weight:700;margin:1.25rem 0 0;padding:.8rem;border:0;
border-radius:.5rem;background:#3d3dbd;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#a31515;border:2px solid #a31515}
button:focus{outline:3px solid #1a1a2e;outline-offset:2px}
.error{background:#fde8e8;border:1px solid #a31515;color:#7a0f0f;border-radius:.5rem;
padding:.5rem .75rem;margin:0 0 1rem}
.error p{margin:.25rem 0}
a{color:#3d3dbd}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;padding:.3rem .25rem;border-bottom:1px solid #eee;vertical-align:top}
td.number{font-family:ui-monospace,monospace;white-space:nowrap}
.muted{color:#555;font-size:.9rem}
"""


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _errors(messages: list[str]) -> str:
    if not messages:
        return ""
    lines = "".join(f'<p class="error-message">{escape(message)}</p>' for message in messages)
    return f'<div class="error" id="errors" role="alert">{lines}</div>\n'


def _summary(session: dict[str, Any], merchant: str) -> str:
    currency = session["currency"]
    items = "".join(
        "<li><span>{name}{quantity}</span><span>{amount}</span></li>".format(
            name=escape(item["name"]),
            quantity=f" × {item['quantity']}" if item["quantity"] != 1 else "",
            amount=escape(format_amount(item["unit_amount"] * item["quantity"], currency)),
        )
        for item in session["_line_items"]
    )
    total = escape(format_amount(session["amount_total"], currency))
    return (
        f"<h1>Pay {escape(merchant)}</h1>\n"
        f'<ul class="items" aria-label="What you pay for">{items}</ul>\n'
        f'<p class="total"><span>Total</span><span>{total}</span></p>\n'
    )


def _back(session: dict[str, Any], merchant: str, url: str | None = None) -> str:
    target = url or session.get("cancel_url")
    if not target:
        return ""
    return f'<p><a href="{escape(target)}">Cancel and return to {escape(merchant)}</a></p>\n'


def _test_cards() -> str:
    rows = "".join(
        f'<tr><td class="number">{escape(grouped(card.number))}</td>'
        f"<td>{escape(card.brand.title())}</td><td>{escape(card.behaviour)}</td></tr>"
        for card in TEST_CARDS.values()
    )
    return (
        '<section class="card" aria-labelledby="test-cards">\n'
        '<h2 id="test-cards">Test cards</h2>\n'
        '<p class="muted">Use any future expiry date (e.g. 12/40), any CVC and any name.</p>\n'
        '<table><thead><tr><th scope="col">Number</th><th scope="col">Brand</th>'
        f'<th scope="col">What happens</th></tr></thead><tbody>{rows}</tbody></table>\n'
        "</section>"
    )


SANDBOX_NOTE = (
    '<p class="sandbox" role="note">Sandbox: no real card is charged — test cards below</p>\n'
)


def pay_page(session: dict[str, Any], merchant: str, errors: list[str], name: str = "") -> str:
    """The card form of an open session, with ``errors`` above it (if any)."""
    manual = session["_capture_method"] == "manual"
    total = format_amount(session["amount_total"], session["currency"])
    hold = (
        f'<p class="hold">{escape(total)} is held on your card and only charged if your '
        "request is approved. Otherwise the hold is released.</p>\n"
        if manual
        else ""
    )
    described = ' aria-describedby="errors"' if errors else ""
    form = (
        '<form method="post" novalidate>\n'
        '<label for="card_number">Card number</label>\n'
        '<input id="card_number" name="card_number" type="text" autocomplete="cc-number" '
        'inputmode="numeric" maxlength="23" placeholder="1234 1234 1234 1234" '
        f"required{described}>\n"
        '<div class="row"><div>\n'
        '<label for="exp">Expiry (MM/YY)</label>\n'
        '<input id="exp" name="exp" type="text" autocomplete="cc-exp" inputmode="numeric" '
        'maxlength="7" placeholder="MM/YY" required>\n'
        "</div><div>\n"
        '<label for="cvc">CVC</label>\n'
        '<input id="cvc" name="cvc" type="text" autocomplete="cc-csc" inputmode="numeric" '
        'maxlength="4" placeholder="123" required>\n'
        "</div></div>\n"
        '<label for="name">Name on card</label>\n'
        '<input id="name" name="name" type="text" autocomplete="cc-name" maxlength="200" '
        f'value="{escape(name)}">\n'
        f'<button type="submit">{"Authorize" if manual else "Pay"}</button>\n'
        "</form>\n"
    )
    body = (
        SANDBOX_NOTE
        + '<section class="card">\n'
        + _summary(session, merchant)
        + hold
        + _errors(errors)
        + form
        + _back(session, merchant)
        + "</section>\n"
        + _test_cards()
    )
    return _document(f"Pay {merchant} – {total}", body)


def closed_page(
    session: dict[str, Any], merchant: str, message: str, link: str | None, link_text: str
) -> str:
    """A session that takes no card any more: what happened, and the way back."""
    back = f'<p><a href="{escape(link)}">{escape(link_text)}</a></p>\n' if link else ""
    body = (
        SANDBOX_NOTE
        + '<section class="card">\n'
        + _summary(session, merchant)
        + f'<p class="closed" role="status">{escape(message)}</p>\n'
        + back
        + "</section>"
    )
    return _document(f"Pay {merchant}", body)


def challenge_page(
    session: dict[str, Any], intent: dict[str, Any], merchant: str, card: dict[str, Any]
) -> str:
    """Stripe's 3-D Secure 2 test page: complete or fail the authentication."""
    amount = format_amount(intent["amount"], intent["currency"])
    body = (
        SANDBOX_NOTE
        + '<section class="card">\n'
        + "<h1>3D Secure 2 test page</h1>\n"
        + f"<p>{escape(merchant)} asks your bank to confirm the payment of "
        + f"<strong>{escape(amount)}</strong> with your {escape(card['brand'].title())} card "
        + f"ending in {escape(card['last4'])}.</p>\n"
        + '<p class="muted">This is a test page: choose how the authentication ends.</p>\n'
        + '<form method="post">\n'
        + '<button type="submit" name="action" value="complete">Complete authentication'
        + "</button>\n"
        + '<button type="submit" name="action" value="fail" class="secondary">'
        + "Fail authentication</button>\n"
        + "</form>\n"
        + _back(session, merchant)
        + "</section>"
    )
    return _document("3D Secure 2 test page", body)


def missing_page(merchant: str) -> str:
    body = (
        f"<h1>Pay {escape(merchant)}</h1>\n"
        '<p class="closed" role="status">This payment page does not exist. Start the payment '
        f"again from {escape(merchant)}.</p>"
    )
    return _document("Payment page not found", body)


def home_page(merchant: str) -> str:
    body = (
        "<h1>Sandbox card processor</h1>\n"
        f"<p>Answers {escape(merchant)}'s calls like Stripe's API, under /v1. "
        "See docs/sandbox-processor.md.</p>"
    )
    return _document("Sandbox card processor", body)
