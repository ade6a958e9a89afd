"""A local HTTP server that answers like Stripe's payment method, payment intent and refund
endpoints (form-encoded requests, JSON answers, Idempotency-Key honoured), for testing the
Stripe gateway over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeStripe:
    def __init__(self):
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.by_key: dict[str, tuple[int, dict]] = {}
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_next = 0  # answer 500 this many times
        self.delay = 0.0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = fake.handle(self.path, form, dict(self.headers))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def card_error(message, code="card_declined"):
        return 402, {"error": {"type": "card_error", "code": code, "message": message}}

    def handle(self, path, form, headers):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests.append((path, form, headers))
            if self.fail_next:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "Something went wrong"}}
            key = headers.get("Idempotency-Key")
            if key and key in self.by_key:
                return self.by_key[key]
            answer = self.route(path, form)
            if key:
                self.by_key[key] = answer
            return answer

    def route(self, path, form):
        if path == "/v1/payment_methods":
            number = form.get("card[number]", "")
            if number == "4000000000000002":
                return 200, {
                    "id": "pm_card_declined",
                    "object": "payment_method",
                    "card": {"brand": "visa", "last4": "0002"},
                }
            return 200, {
                "id": f"pm_{secrets.token_hex(6)}",
                "object": "payment_method",
                "card": {"brand": "visa", "last4": number[-4:]},
            }
        if path == "/v1/payment_intents":
            if form.get("payment_method") == "pm_card_declined":
                return self.card_error("Your card was declined.")
            intent = {
                "id": f"pi_{secrets.token_hex(8)}",
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "status": "succeeded",
            }
            self.charges[intent["id"]] = intent
            return 200, intent
        if path == "/v1/refunds":
            intent = self.charges.get(form.get("payment_intent", ""))
            if intent is None:
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "No such payment_intent"}
                }
            refunded = sum(
                r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
            )
            amount = int(form.get("amount", intent["amount"]))
            if refunded + amount > intent["amount"]:
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "Refund exceeds charge"}
                }
            refund = {
                "id": f"re_{secrets.token_hex(8)}",
                "object": "refund",
                "amount": amount,
                "payment_intent": intent["id"],
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return 200, refund
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL {path}",
            }
        }
