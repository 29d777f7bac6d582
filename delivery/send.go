package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Header names set on every request. Standard Webhooks receivers read the
// first three; the X-Webhook ones are for people and simpler receivers.
const (
	HeaderID         = "webhook-id"
	HeaderTimestamp  = "webhook-timestamp"
	HeaderSignature  = "webhook-signature"
	HeaderXTimestamp = "X-Webhook-Timestamp"
	HeaderXAttempt   = "X-Webhook-Attempt"
	HeaderXEventType = "X-Webhook-Event-Type"
	HeaderXEventID   = "X-Webhook-Event-Id"
	// HeaderSequence and HeaderOrderingKey are set on the attempts to an
	// endpoint that asks for ordered delivery: the delivery's number in
	// its ordering key, and the key, percent-encoded.
	HeaderSequence    = "webhook-sequence"
	HeaderOrderingKey = "webhook-ordering-key"
)

// Sender defaults and bounds.
const (
	defaultTimeout        = 15 * time.Second
	defaultMaxBody        = 4096
	defaultUserAgent      = "hookstream/1"
	defaultIdlePerHost    = 64
	drainLimit            = 64 << 10 // response bytes discarded beyond the capture
	maxResponseHeaderSize = 64 << 10
)

// Request is one webhook attempt.
type Request struct {
	ID        string    // webhook-id: the stable delivery id, the same on every attempt
	EventID   string    // sent as X-Webhook-Event-Id
	EventType string    // sent as X-Webhook-Event-Type
	Attempt   int       // sent as X-Webhook-Attempt, 1-based
	Timestamp time.Time // webhook-timestamp and X-Webhook-Timestamp in unix seconds; zero means now
	Body      []byte    // the payload (see Encode), sent verbatim as the request body
	// ContentType is the body's media type; "" means application/json.
	ContentType string
	// FormatHeaders are the payload format's headers (see Payload), set
	// after the custom headers.
	FormatHeaders []Header
	URL           string // the endpoint URL
	// Headers are the endpoint's custom headers. They cannot replace the
	// headers Send sets itself nor hop-by-hop ones; see IsReservedHeader.
	Headers map[string]string
	Keys    []Key // signing keys, current first
	// Timeout bounds the whole attempt, reading the captured response body
	// included; zero means the Sender's default.
	Timeout time.Duration
	// Sequence, when positive, is sent as webhook-sequence, and
	// OrderingKey, percent-encoded, as webhook-ordering-key.
	Sequence    int64
	OrderingKey string
	// Traceparent and Tracestate, when set, are sent as the W3C Trace
	// Context headers of the same names.
	Traceparent, Tracestate string
}

// Result is what one attempt produced.
type Result struct {
	StatusCode int           // HTTP status; 0 when no response arrived
	Latency    time.Duration // from request start until headers and captured body were read
	Body       []byte        // response body, at most SenderOptions.MaxResponseBody bytes
	Truncated  bool          // the response body was longer than Body
	// RetryAfter is the response's Retry-After (delta-seconds or HTTP-date)
	// as a delay, whatever the status; 0 when absent, invalid or past.
	RetryAfter time.Duration
	// Err is the transport error when no response arrived, or the error
	// that cut the response body short when one did (StatusCode still
	// decides the outcome). Its text names the URL only as RedactURL does:
	// no userinfo, no query.
	Err      error
	ErrClass ErrClass // why no response arrived; "" when one did
}

// SenderOptions configure a Sender. Zero fields take their defaults.
type SenderOptions struct {
	Guard               Guard         // decides which addresses may be dialled
	DefaultTimeout      time.Duration // per attempt, when Request.Timeout is 0; default 15s
	MaxResponseBody     int           // response bytes captured; default 4096
	UserAgent           string        // default "hookstream/1"
	MaxIdleConnsPerHost int           // idle connections kept per host; default 64
	// Log receives what Result.Err leaves out: the address a refused
	// destination resolved to. Default: discarded.
	Log *slog.Logger
}

// Sender makes webhook attempts over a shared pool of connections. It is
// safe for concurrent use. Create it with NewSender.
type Sender struct {
	// transport, not an http.Client: a Client copies every request's
	// headers in case it follows a redirect, which Send never does.
	transport      *http.Transport
	defaultTimeout time.Duration
	maxBody        int
	userAgent      string
	log            *slog.Logger
}

// NewSender returns a Sender that dials only addresses o.Guard allows,
// checking every resolved address at dial time so that DNS answers cannot
// lead it into internal networks. It uses no proxy, follows no redirects,
// and may speak HTTP/2.
func NewSender(o SenderOptions) *Sender {
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = defaultTimeout
	}
	if o.MaxResponseBody <= 0 {
		o.MaxResponseBody = defaultMaxBody
	}
	if o.UserAgent == "" {
		o.UserAgent = defaultUserAgent
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = defaultIdlePerHost
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	guard := o.Guard
	dialer := &net.Dialer{
		Timeout:   30 * time.Second, // the attempt's context is usually shorter
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return guardDial(guard, address)
		},
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           max(4096, 4*o.MaxIdleConnsPerHost),
		MaxIdleConnsPerHost:    o.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderSize,
		DisableCompression:     true, // capture what the receiver sent
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &Sender{
		transport:      transport,
		defaultTimeout: o.DefaultTimeout,
		maxBody:        o.MaxResponseBody,
		userAgent:      o.UserAgent,
		log:            o.Log,
	}
}

// guardDial checks the resolved address a dial is about to connect to.
func guardDial(g Guard, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparseable dial address", ErrForbiddenTarget)
	}
	return g.Check(ap.Addr())
}

// Send makes one attempt: it POSTs r.Body to r.URL, signed with r.Keys,
// and captures the response. It sets Content-Type (r.ContentType), the
// payload format's headers (r.FormatHeaders), the
// Standard Webhooks headers webhook-id, webhook-timestamp and
// webhook-signature, X-Webhook-Timestamp, X-Webhook-Attempt,
// X-Webhook-Event-Type, X-Webhook-Event-Id and User-Agent, after the
// endpoint's custom headers.
//
// A redirect is not followed: the 3xx is the result. Send reads up to
// MaxResponseBody bytes of the response, discards up to 64 KiB more so the
// connection can be reused, and closes it. It never returns an error
// separately: transport failures are in Result.Err and Result.ErrClass.
// When the Guard refuses the address a name resolved to, Result.Err says
// only "destination not allowed" (it is shown to the endpoint's owner);
// the address and its class go to the Sender's log.
// Send returns promptly when ctx ends.
func (s *Sender) Send(ctx context.Context, r Request) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = s.defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Result{Err: sanitize("build request", r.URL, err), ErrClass: ErrClassOther}
	}
	req.Header = make(http.Header, len(r.Headers)+len(r.FormatHeaders)+ownHeaders)
	SetHeaders(req.Header, r, s.userAgent)
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		// What an http.Client does with a URL's userinfo.
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}

	start := time.Now()
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		res := Result{
			Latency:  time.Since(start),
			Err:      sanitize("POST", r.URL, err),
			ErrClass: classifyError(err),
		}
		if res.ErrClass == ErrClassForbidden {
			// The address tells about the networks hookstream runs in:
			// the operator's log has it, the tenant's history does not.
			s.log.Warn("destination refused by the SSRF guard", "delivery_id", r.ID, "url", RedactURL(r.URL), "err", res.Err)
			res.Err = &transportError{msg: "delivery: POST " + RedactURL(r.URL) + ": destination not allowed", err: res.Err}
		}
		return res
	}
	defer resp.Body.Close()

	// A read error after the status arrived does not change the outcome:
	// keep what was captured.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(s.maxBody)+1))
	res := Result{
		StatusCode: resp.StatusCode,
		Latency:    time.Since(start),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if readErr != nil {
		// The status decides the outcome; a body cut short (a reset,
		// a timeout) is said in the error, beside the part that came.
		res.Err = sanitize("read response body of", r.URL, readErr)
	}
	if len(body) > s.maxBody {
		body, res.Truncated = body[:s.maxBody], true
	}
	res.Body = body
	if res.Truncated {
		// Drain a bounded amount so a modest body does not cost the
		// connection; a bigger one is cut off by Close.
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	}
	return res
}

// SetHeaders writes the headers of a webhook request: r's custom headers,
// then the ones Send owns (see Send), signed with r.Keys. Whatever carries
// the request (Send, or the relay of a listener) sends exactly these.
func SetHeaders(h http.Header, r Request, userAgent string) {
	for k, v := range r.Headers {
		if !IsReservedHeader(k) {
			h.Set(k, v)
		}
	}
	for _, fh := range r.FormatHeaders {
		h.Set(fh.Name, fh.Value)
	}
	ts := r.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	// Canonical keys set directly: Set would canonicalise each one again
	// on every attempt. The values share one array: a slice each would be
	// an allocation each, on every attempt.
	vals := make([]string, 0, ownHeaders)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	ct := r.ContentType
	if ct == "" {
		ct = contentTypeJSON
	}
	set("Content-Type", ct)
	set(canonicalID, r.ID)
	set(canonicalTimestamp, unix)
	set(canonicalSignature, Sign(r.ID, ts, r.Body, r.Keys...))
	set(HeaderXTimestamp, unix)
	set(HeaderXAttempt, strconv.Itoa(r.Attempt))
	set(HeaderXEventType, r.EventType)
	set(HeaderXEventID, r.EventID)
	set("User-Agent", userAgent)
	if r.Sequence > 0 {
		set(canonicalSequence, strconv.FormatInt(r.Sequence, 10))
		set(canonicalOrderingKey, url.PathEscape(r.OrderingKey))
	}
	if r.Traceparent != "" {
		set("Traceparent", r.Traceparent)
		if r.Tracestate != "" {
			set("Tracestate", r.Tracestate)
		}
	}
}

// ownHeaders bounds the headers SetHeaders sets itself (not counting an
// endpoint's custom ones and a payload format's).
const ownHeaders = 13

// The canonical forms of the header names Send sets (the X- ones already
// are).
var (
	canonicalID          = textproto.CanonicalMIMEHeaderKey(HeaderID)
	canonicalTimestamp   = textproto.CanonicalMIMEHeaderKey(HeaderTimestamp)
	canonicalSignature   = textproto.CanonicalMIMEHeaderKey(HeaderSignature)
	canonicalSequence    = textproto.CanonicalMIMEHeaderKey(HeaderSequence)
	canonicalOrderingKey = textproto.CanonicalMIMEHeaderKey(HeaderOrderingKey)
)

// reservedHeaders are set by Send or by the HTTP transport, or are
// hop-by-hop; custom headers cannot replace them. Keys are canonical.
var reservedHeaders = map[string]bool{
	"Webhook-Id":           true,
	"Webhook-Timestamp":    true,
	"Webhook-Signature":    true,
	"Webhook-Sequence":     true,
	"Webhook-Ordering-Key": true,
	"X-Webhook-Timestamp":  true,
	"X-Webhook-Attempt":    true,
	"X-Webhook-Event-Type": true,
	"X-Webhook-Event-Id":   true,
	"Content-Type":         true,
	"Content-Length":       true,
	"Content-Encoding":     true,
	"Transfer-Encoding":    true,
	"User-Agent":           true,
	"Host":                 true,
	"Connection":           true,
	"Keep-Alive":           true,
	"Proxy-Connection":     true,
	"Proxy-Authorization":  true,
	"Te":                   true,
	"Trailer":              true,
	"Upgrade":              true,
}

// IsReservedHeader reports whether name is a header an endpoint's custom
// headers cannot set: the signature, id, timestamp and other headers Send
// owns, Content-*, Host, User-Agent, hop-by-hop headers, and the ce-*
// headers of CloudEvents. Send skips them; an API can refuse them up
// front.
func IsReservedHeader(name string) bool {
	c := textproto.CanonicalMIMEHeaderKey(name)
	return reservedHeaders[c] || strings.HasPrefix(c, "Ce-")
}

// Close releases the Sender's idle connections. Sends in flight finish.
func (s *Sender) Close() {
	s.transport.CloseIdleConnections()
}
