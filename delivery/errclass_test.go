package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSendTransportErrors(t *testing.T) {
	release := make(chan struct{})
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	var hits atomic.Int32
	ok := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	closed := closedAddr(t)

	tests := []struct {
		name   string
		guard  Guard
		url    string
		ctx    func() context.Context
		class  ErrClass
		target error // errors.Is(res.Err, target) when set
	}{
		{"timeout", allowLoopback, slow.URL, nil, ErrClassTimeout, context.DeadlineExceeded},
		{"forbidden loopback", Guard{}, ok.URL, nil, ErrClassForbidden, ErrForbiddenTarget},
		{"forbidden localhost name", Guard{}, "http://localhost:" + portOf(t, ok.URL), nil, ErrClassForbidden, ErrForbiddenTarget},
		{"connection refused", allowLoopback, "http://" + closed + "/h", nil, ErrClassConnection, nil},
		{"untrusted certificate", allowLoopback, tlsSrv.URL, nil, ErrClassTLS, nil},
		{"unsupported scheme", allowLoopback, "ftp://127.0.0.1/", nil, ErrClassOther, nil},
		{"malformed URL", allowLoopback, "http://user:pass@[::1/h?token=s3cret", nil, ErrClassOther, ErrInvalidURL},
		{"canceled", allowLoopback, slow.URL, canceledCtx, ErrClassOther, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			// Only the timeout case wants a short timeout: on a loaded
			// machine a TLS handshake can take longer than 200ms.
			timeout := 10 * time.Second
			if tt.class == ErrClassTimeout {
				timeout = 200 * time.Millisecond
			}
			s := newTestSender(t, SenderOptions{Guard: tt.guard, DefaultTimeout: timeout})
			res := s.Send(ctx, Request{ID: "d", URL: tt.url, Body: []byte("{}")})
			if res.StatusCode != 0 || res.Err == nil {
				t.Fatalf("status %d err %v, want a transport error", res.StatusCode, res.Err)
			}
			if res.ErrClass != tt.class {
				t.Fatalf("class = %q, want %q (err %v)", res.ErrClass, tt.class, res.Err)
			}
			if tt.target != nil && !errors.Is(res.Err, tt.target) {
				t.Fatalf("err = %v, want it to wrap %v", res.Err, tt.target)
			}
			if Classify(res) != Retry || StatusClass(res) != string(tt.class) {
				t.Fatalf("Classify = %v, StatusClass = %q", Classify(res), StatusClass(res))
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("forbidden target was reached %d times", n)
	}
}

// TestSendErrorsHideCredentials checks that neither userinfo nor query
// reach the error text, whatever went wrong.
func TestSendErrorsHideCredentials(t *testing.T) {
	release := make(chan struct{})
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	const secretParts = "user:pass@"
	const query = "?token=s3cret"
	withSecrets := func(base string) string {
		return strings.Replace(base, "://", "://"+secretParts, 1) + "/hook" + query
	}
	tests := []struct {
		name  string
		guard Guard
		url   string
	}{
		{"forbidden", Guard{}, withSecrets(slow.URL)},
		{"timeout", allowLoopback, withSecrets(slow.URL)},
		{"refused", allowLoopback, withSecrets("http://" + closedAddr(t))},
		{"unknown host", Guard{}, withSecrets("http://host.invalid")},
		{"unsupported scheme", allowLoopback, withSecrets("gopher://127.0.0.1")},
		{"malformed", allowLoopback, "http://" + secretParts + "[::1" + query},
		{"bad port", allowLoopback, "http://" + secretParts + "127.0.0.1:99999" + query},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSender(t, SenderOptions{Guard: tt.guard, DefaultTimeout: 200 * time.Millisecond})
			res := s.Send(context.Background(), Request{URL: tt.url})
			if res.Err == nil {
				t.Fatalf("status %d, want a transport error", res.StatusCode)
			}
			msg := res.Err.Error()
			for _, secret := range []string{"user:pass", "pass", "token", "s3cret"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

func TestSendTimeoutPerRequest(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	s := newTestSender(t, SenderOptions{Guard: allowLoopback, DefaultTimeout: time.Hour})
	start := time.Now()
	res := s.Send(context.Background(), Request{URL: srv.URL, Timeout: 100 * time.Millisecond})
	if res.ErrClass != ErrClassTimeout {
		t.Fatalf("class = %q (err %v), want timeout", res.ErrClass, res.Err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Send took %v with a 100ms timeout", elapsed)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func portOf(t *testing.T, rawURL string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A destination the Guard refuses is described as such, without the address
// the host name resolved to: errors reach tenants through the attempt
// history.
func TestForbiddenTargetErrorHidesTheAddress(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	var logged bytes.Buffer
	res := newTestSender(t, SenderOptions{Log: slog.New(slog.NewTextHandler(&logged, nil))}).Send(context.Background(),
		Request{ID: "msg_1", URL: "http://user:pw@localhost:" + portOf(t, srv.URL) + "/hook?k=secret"})
	if res.ErrClass != ErrClassForbidden || !errors.Is(res.Err, ErrForbiddenTarget) {
		t.Fatalf("Send = %v (%s), want a forbidden target", res.Err, res.ErrClass)
	}
	msg := res.Err.Error()
	for _, leak := range []string{"127.0.0.1", "::1", "loopback"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q names %q", msg, leak)
		}
	}
	if !strings.Contains(msg, "destination not allowed") {
		t.Errorf("error %q does not say the destination is not allowed", msg)
	}
	// The operator's log keeps what was refused, and no secret of the URL.
	log := logged.String()
	if !strings.Contains(log, "msg_1") || !strings.Contains(log, "loopback") ||
		!(strings.Contains(log, "127.0.0.1") || strings.Contains(log, "::1")) {
		t.Errorf("log %q does not name the delivery and the refused address", log)
	}
	if strings.Contains(log, "pw") || strings.Contains(log, "secret") {
		t.Errorf("log %q holds a secret of the URL", log)
	}
}
