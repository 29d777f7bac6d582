package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// ErrClass says why an attempt got no HTTP response. Its values are few and
// fixed, fit for metric labels.
type ErrClass string

// Transport error classes.
const (
	ErrClassTimeout    ErrClass = "timeout"          // the attempt's deadline passed
	ErrClassConnection ErrClass = "connection"       // DNS, refused, reset, closed early
	ErrClassForbidden  ErrClass = "forbidden_target" // the Guard refused the address
	ErrClassTLS        ErrClass = "tls"              // handshake or certificate failure
	ErrClassOther      ErrClass = "other"            // anything else, a bad URL included
)

// classifyError sorts a transport error from http.Client.Do.
func classifyError(err error) ErrClass {
	var netErr net.Error
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		return ErrClassForbidden
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ErrClassTimeout
	case isTLSError(err):
		return ErrClassTLS
	case isConnectionError(err):
		return ErrClassConnection
	default:
		return ErrClassOther
	}
}

func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		ech      *tls.ECHRejectionError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &ech) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) {
		return true
	}
	// Alerts received from the peer have an unexported type; crypto/tls
	// prefixes all its messages with "tls: ".
	return strings.Contains(err.Error(), "tls: ")
}

func isConnectionError(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// transportError carries a message safe to log while keeping the cause
// reachable for errors.Is and errors.As.
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// sanitize rewrites an error from building or sending a request so that
// it names the URL only as RedactURL does. net/http's *url.Error quotes the
// URL with its username and query; it is replaced by its cause.
func sanitize(op, rawURL string, err error) error {
	u, perr := url.Parse(rawURL)
	if perr != nil {
		// The parser's messages may quote pieces of the URL: keep none.
		return &transportError{
			msg: "delivery: " + op + " " + RedactURL(rawURL) + ": " + ErrInvalidURL.Error() + ": malformed",
			err: ErrInvalidURL,
		}
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	prefix := "delivery: " + op + " " + RedactURL(rawURL) + ": "
	msg := prefix + cause.Error()
	if containsSecret(msg, u) {
		msg = prefix + "transport error (details withheld: they quoted the URL)"
	}
	return &transportError{msg: msg, err: cause}
}

// containsSecret reports whether s repeats u's userinfo or query, in raw or
// decoded form. Pieces shorter than 4 bytes are too common to judge.
func containsSecret(s string, u *url.URL) bool {
	var pieces []string
	if u.User != nil {
		pieces = append(pieces, u.User.String(), u.User.Username())
		if p, ok := u.User.Password(); ok {
			pieces = append(pieces, p)
		}
	}
	if u.RawQuery != "" {
		pieces = append(pieces, u.RawQuery)
		if q, err := url.QueryUnescape(u.RawQuery); err == nil {
			pieces = append(pieces, q)
		}
	}
	for _, p := range pieces {
		if len(p) >= 4 && strings.Contains(s, p) {
			return true
		}
	}
	return false
}
