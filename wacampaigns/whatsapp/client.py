"""`CloudApiClient`: every Graph API call of one sender phone number, over one pooled HTTP session."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from wacampaigns.whatsapp import payloads
from wacampaigns.whatsapp.errors import (
    AmbiguousSendError,
    NotSentError,
    UnexpectedResponseError,
    classify_graph_error,
    graph_error_object,
)

# Sized for the sender threads of one process (design.md §7: requests keeps only 10 connections by default,
# and every connection thrown away costs a TLS handshake with Meta).
DEFAULT_POOL_MAXSIZE = 32
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 30.0
# Template lists are followed page by page; this bounds a paging loop that never ends.
_MAX_TEMPLATE_PAGES = 1000

_shared_session: requests.Session | None = None
_shared_session_lock = threading.Lock()


def build_session(pool_maxsize: int = DEFAULT_POOL_MAXSIZE) -> requests.Session:
    """A session whose connection pool holds `pool_maxsize` connections per host and never retries by itself."""
    session = requests.Session()
    # max_retries=0: a silent retry of a POST /messages could send a message twice (design.md decision 3).
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def shared_session(pool_maxsize: int = DEFAULT_POOL_MAXSIZE) -> requests.Session:
    """The process-wide session every client uses unless given one; `pool_maxsize` counts on first use only."""
    global _shared_session
    with _shared_session_lock:
        if _shared_session is None:
            _shared_session = build_session(pool_maxsize)
        return _shared_session


@dataclass(frozen=True, slots=True)
class SendResult:
    """Meta accepted a message: its wamid and, for template sends, the pacing status when given."""

    wamid: str
    message_status: str | None  # accepted, held_for_quality_assessment or paused; optional [M-PACING][OAS]
    wa_id: str | None
    input: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_held(self) -> bool:
        """Meta holds the message for template pacing (reference §4.7)."""
        return self.message_status == "held_for_quality_assessment"


@dataclass(frozen=True, slots=True)
class CreatedTemplate:
    """A template submission Meta accepted for review."""

    template_id: str
    status: str
    category: str | None


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    """What Meta reports about the sender phone number."""

    phone_number_id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    throughput_level: str | None
    messaging_limit_tier: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


class CloudApiClient:
    """The Graph API as seen by one sender phone number of one business account."""

    PHONE_NUMBER_FIELDS = (
        "display_phone_number",
        "verified_name",
        "quality_rating",
        "throughput",
        "whatsapp_business_manager_messaging_limit",
    )

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        access_token: str,
        phone_number_id: str,
        waba_id: str,
        app_id: str | None = None,
        session: requests.Session | None = None,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.phone_number_id = str(phone_number_id)
        self.waba_id = str(waba_id)
        self.app_id = str(app_id) if app_id is not None else None
        self.timeout = (connect_timeout_seconds, read_timeout_seconds)
        self._access_token = access_token
        self._session = session if session is not None else shared_session()
        self._prepared_posts: dict[str, tuple[requests.PreparedRequest, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"<CloudApiClient {self.base_url}/{self.api_version} phone_number_id={self.phone_number_id}>"

    # --- messages -------------------------------------------------------------------------------------

    def send_template(
        self,
        *,
        to: str,
        template_name: str,
        language_code: str,
        components: Sequence[payloads.Component] = (),
        biz_opaque_callback_data: str,
    ) -> SendResult:
        """Send a template message; `biz_opaque_callback_data` is the delivery id."""
        body = payloads.template_message(
            to=to,
            template_name=template_name,
            language_code=language_code,
            components=components,
            biz_opaque_callback_data=biz_opaque_callback_data,
        )
        return self.send_message(body)

    def send_text(
        self,
        *,
        to: str,
        text: str,
        biz_opaque_callback_data: str,
        preview_url: bool = False,
        reply_to_wamid: str | None = None,
    ) -> SendResult:
        """Send free-form text; Meta accepts it only inside the 24 h customer service window (else 131047)."""
        body = payloads.text_message(
            to=to,
            text=text,
            biz_opaque_callback_data=biz_opaque_callback_data,
            preview_url=preview_url,
            reply_to_wamid=reply_to_wamid,
        )
        return self.send_message(body)

    def send_message(self, body: Mapping[str, Any]) -> SendResult:
        """POST a message body built by `payloads` to `/{phone-number-id}/messages`."""
        answer = self._post_json(self._url(self.phone_number_id, "messages"), body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
        wamid = first.get("id")
        if not isinstance(wamid, str) or not wamid:
            raise UnexpectedResponseError(f"send answered without a wamid: {answer!r}")
        contacts = answer.get("contacts")
        contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping) else {}
        message_status = first.get("message_status")
        return SendResult(
            wamid=wamid,
            message_status=message_status if isinstance(message_status, str) else None,
            wa_id=contact.get("wa_id"),
            input=contact.get("input"),
            raw=answer,
        )

    # --- templates ------------------------------------------------------------------------------------

    def list_templates(
        self, *, fields: Sequence[str] | None = None, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every template of the business account, following `paging.next` until it is absent."""
        params: dict[str, Any] = {}
        if fields:
            params["fields"] = ",".join(fields)
        if status:
            params["status"] = status
        if limit:
            params["limit"] = limit
        url: str | None = self._url(self.waba_id, "message_templates")
        templates: list[dict[str, Any]] = []
        for _page in range(_MAX_TEMPLATE_PAGES):
            if url is None:
                return templates
            answer = self._request("GET", url, params=params)
            data = answer.get("data")
            if not isinstance(data, list):
                raise UnexpectedResponseError(f"template list without a data list: {answer!r}")
            templates.extend(item for item in data if isinstance(item, dict))
            url = self._next_page_url(answer)
            params = {}  # paging.next carries the query already
        raise UnexpectedResponseError(f"template paging did not end after {_MAX_TEMPLATE_PAGES} pages")

    def create_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str | None = None,
    ) -> CreatedTemplate:
        """Submit a template for review; Meta answers `{"id", "status": "PENDING", "category"}`."""
        body: dict[str, Any] = {
            "name": name,
            "language": language,
            "category": category,
            "components": [dict(component) for component in components],
        }
        if parameter_format is not None:
            body["parameter_format"] = parameter_format
        answer = self._request("POST", self._url(self.waba_id, "message_templates"), json=body)
        template_id = answer.get("id")
        if template_id is None:
            raise UnexpectedResponseError(f"template creation answered without an id: {answer!r}")
        return CreatedTemplate(
            template_id=str(template_id), status=str(answer.get("status", "")), category=answer.get("category")
        )

    # --- media ----------------------------------------------------------------------------------------

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for sending (header media by id); returns the media id."""
        answer = self._request(
            "POST",
            self._url(self.phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        media_id = answer.get("id")
        if media_id is None:
            raise UnexpectedResponseError(f"media upload answered without an id: {answer!r}")
        return str(media_id)

    def upload_header_handle(self, *, content: bytes, mime_type: str, filename: str | None = None) -> str:
        """Upload a sample file with the Resumable Upload API; returns the `header_handle` a template needs.

        A media header example in a template submission takes a handle from this API, not a media id [M-COMP].
        """
        if self.app_id is None:
            raise ValueError("the Resumable Upload API needs the Meta app id")
        params: dict[str, Any] = {"file_length": len(content), "file_type": mime_type}
        if filename is not None:
            params["file_name"] = filename
        session_answer = self._request("POST", self._url(self.app_id, "uploads"), params=params)
        upload_session_id = session_answer.get("id")
        if not isinstance(upload_session_id, str) or not upload_session_id.startswith("upload:"):
            raise UnexpectedResponseError(f"upload session answered without an upload id: {session_answer!r}")
        # The upload step authenticates with "OAuth <token>", not "Bearer", and starts at offset 0.
        answer = self._request(
            "POST",
            self._url(upload_session_id),
            data=content,
            headers={"Authorization": f"OAuth {self._access_token}", "file_offset": "0"},
        )
        handle = answer.get("h")
        if not isinstance(handle, str) or not handle:
            raise UnexpectedResponseError(f"upload answered without a handle: {answer!r}")
        return handle

    # --- phone number ---------------------------------------------------------------------------------

    def phone_number_info(self) -> PhoneNumberInfo:
        """Throughput level, messaging-limit tier, quality rating and names of the sender number."""
        answer = self._request(
            "GET", self._url(self.phone_number_id), params={"fields": ",".join(self.PHONE_NUMBER_FIELDS)}
        )
        throughput = answer.get("throughput")
        return PhoneNumberInfo(
            phone_number_id=str(answer.get("id", self.phone_number_id)),
            display_phone_number=answer.get("display_phone_number"),
            verified_name=answer.get("verified_name"),
            quality_rating=answer.get("quality_rating"),
            throughput_level=throughput.get("level") if isinstance(throughput, Mapping) else None,
            messaging_limit_tier=_messaging_limit_tier(answer.get("whatsapp_business_manager_messaging_limit")),
            raw=answer,
        )

    # --- transport ------------------------------------------------------------------------------------

    def _url(self, *path: str) -> str:
        return "/".join((self.base_url, self.api_version, *path))

    def _next_page_url(self, answer: Mapping[str, Any]) -> str | None:
        paging = answer.get("paging")
        next_url = paging.get("next") if isinstance(paging, Mapping) else None
        if not next_url:
            return None
        # The bearer token goes with every request: never follow a link to another host.
        if urlsplit(str(next_url))[:2] != urlsplit(self.base_url)[:2]:
            raise UnexpectedResponseError(f"paging.next points away from {self.base_url}: {next_url!r}")
        return str(next_url)

    def _request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any) -> dict:
        request_headers = {"Authorization": f"Bearer {self._access_token}"}
        request_headers.update(headers or {})
        return self._answer(
            method,
            url,
            lambda: self._session.request(method, url, headers=request_headers, timeout=self.timeout, **kwargs),
        )

    def _post_json(self, url: str, body: Mapping[str, Any]) -> dict:
        """POST a JSON body over a request prepared once per client and URL: the hot path of every send.

        What `Session.request` works out again on every call (the session's headers and cookies, ~/.netrc,
        the proxy and CA-bundle environment) is worked out once; only the body changes between sends. Graph
        API calls carry no cookies.
        """
        prepared = self._prepared_posts.get(url)
        if prepared is None:
            request = requests.Request("POST", url, headers={"Authorization": f"Bearer {self._access_token}"})
            template = self._session.prepare_request(request)
            environment = self._session.merge_environment_settings(template.url, {}, None, None, None)
            prepared = self._prepared_posts[url] = (template, environment)
        template, environment = prepared
        request = template.copy()
        request.prepare_body(data=None, files=None, json=body)
        return self._answer("POST", url, lambda: self._session.send(request, timeout=self.timeout, **environment))

    def _answer(self, method: str, url: str, send) -> dict:
        """The answer of `send()`, or the typed error for how it failed (design.md decision 3)."""
        try:
            response = send()
        except requests.ConnectTimeout as err:
            raise NotSentError(f"connect timeout: {method} {url}") from err
        except requests.ReadTimeout as err:
            raise AmbiguousSendError(f"read timeout after the request was sent: {method} {url}") from err
        except requests.ConnectionError as err:
            if _failed_before_sending(err):
                raise NotSentError(f"could not connect: {method} {url}: {err}") from err
            raise AmbiguousSendError(f"connection lost after the request was sent: {method} {url}: {err}") from err
        except requests.RequestException as err:
            raise AmbiguousSendError(f"request failed: {method} {url}: {err}") from err
        return _answer_or_raise(response)


def _answer_or_raise(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; otherwise the typed error for what came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    graph_error = graph_error_object(body)
    if graph_error is not None:
        # Meta answered and did not carry out the request, whatever the HTTP status says (reference §2).
        raise classify_graph_error(graph_error, http_status=response.status_code)
    if response.status_code >= 500:
        raise AmbiguousSendError(
            f"HTTP {response.status_code} without a Graph error body: {response.text[:200]!r}",
            http_status=response.status_code,
        )
    if response.status_code >= 400:
        # A 4xx page from something in front of Meta (proxy, load balancer): the request went no further.
        raise NotSentError(
            f"HTTP {response.status_code} without a Graph error body: {response.text[:200]!r}",
            http_status=response.status_code,
        )
    if not isinstance(body, dict):
        raise UnexpectedResponseError(f"HTTP {response.status_code} answered with a non-object body")
    return body


def _failed_before_sending(err: requests.ConnectionError) -> bool:
    """Whether the connection failed while being opened (refused, DNS, TLS handshake), before any byte was sent."""
    if isinstance(err, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    cause = err.args[0] if err.args else None
    # requests wraps urllib3's MaxRetryError, whose `reason` is the error that ended the attempt.
    return isinstance(cause, NewConnectionError) or isinstance(getattr(cause, "reason", None), NewConnectionError)


def _messaging_limit_tier(value: Any) -> str | None:
    # Documented as a tier string such as "TIER_250" [M-LIMITS]; anything else stays in `raw` only.
    return value if isinstance(value, str) else None
