package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clientConfig is the configuration of the client commands, read from
// HOOKSTREAM_* variables; flags override it.
type clientConfig struct {
	APIURL string `env:"API_URL, default=http://127.0.0.1:8080"`
	Token  string `env:"TOKEN"`
	// Tenant is the tenant an admin token acts on (X-Hookstream-Tenant).
	Tenant string `env:"TENANT"`
}

// apiClient calls a hookstream API.
type apiClient struct {
	base   *url.URL
	token  string
	tenant string
	http   *http.Client
}

// maxAnswerBytes bounds an answer the CLI reads: an API page holds at most
// 4 MiB of event data, plus its envelope.
const maxAnswerBytes = 16 << 20

func newAPIClient(c clientConfig) (*apiClient, error) {
	u, err := url.Parse(strings.TrimRight(c.APIURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--api-url %q: want an http or https URL such as http://127.0.0.1:8080", c.APIURL)}
	}
	if c.Token == "" {
		return nil, usageError{errors.New("no token: set HOOKSTREAM_TOKEN or pass --token (an API key hsk_… or the admin token)")}
	}
	return &apiClient{base: u, token: c.Token, tenant: c.Tenant,
		http: &http.Client{Timeout: time.Minute}}, nil
}

// apiError is an answer of the API that is not a success: its status and
// problem+json document.
type apiError struct {
	Status int
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
	// RetryAfter is the answer's Retry-After header, as sent.
	RetryAfter string `json:"-"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("API answered %d", e.Status)
	if e.Title != "" {
		msg += " " + e.Title
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.RetryAfter != "" {
		msg += " (retry after " + e.RetryAfter + " s)"
	}
	return msg
}

// unreachableError is a request that got no answer from the API.
type unreachableError struct{ err error }

func (e unreachableError) Error() string { return "cannot reach the API: " + e.err.Error() }
func (e unreachableError) Unwrap() error { return e.err }

// url returns the URL of an API path (its segments already escaped) with a
// query.
func (c *apiClient) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// request builds an authenticated request.
func (c *apiClient) request(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hookstream-cli/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.tenant != "" {
		req.Header.Set("X-Hookstream-Tenant", c.tenant)
	}
	return req, nil
}

// do sends a request and returns the raw JSON of a 2xx answer (nil for
// 204), or an *apiError, or an unreachableError.
func (c *apiClient) do(ctx context.Context, method, path string, q url.Values, body any, headers ...string) (json.RawMessage, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	req, err := c.request(ctx, method, path, q, raw)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unreachableError{redactErr(err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, unreachableError{fmt.Errorf("read answer: %w", redactErr(err))}
	}
	if len(answer) > maxAnswerBytes {
		return nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswerBytes)
	}
	return checkAnswer(resp, answer)
}

// checkAnswer returns a 2xx answer's JSON, or the API error it holds.
func checkAnswer(resp *http.Response, answer []byte) (json.RawMessage, error) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(answer)) == 0 {
			return nil, nil
		}
		if !json.Valid(answer) {
			return nil, fmt.Errorf("API answered %d with a body that is not JSON", resp.StatusCode)
		}
		return answer, nil
	}
	e := &apiError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if json.Unmarshal(answer, e) != nil || e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
		e.Detail = ""
	}
	e.Status = resp.StatusCode
	return nil, e
}

// redactErr drops the URL from a *url.Error: it may hold a query or
// credentials the user put in --api-url.
func redactErr(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// get fetches path and decodes its JSON into out (when not nil); it returns
// the raw answer too, for --output json.
func (c *apiClient) get(ctx context.Context, path string, q url.Values, out any) (json.RawMessage, error) {
	return c.call(ctx, http.MethodGet, path, q, nil, out)
}

// call is do, then decoding the answer into out (when not nil).
func (c *apiClient) call(ctx context.Context, method, path string, q url.Values, body, out any, headers ...string) (json.RawMessage, error) {
	raw, err := c.do(ctx, method, path, q, body, headers...)
	if err != nil {
		return nil, err
	}
	if out != nil && raw != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return raw, nil
}

// seg escapes one path segment (an id).
func seg(s string) string { return url.PathEscape(s) }
