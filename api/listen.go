package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/schema"
)

// listen serves GET /v1/listen, the stream of `hookstream listen`: it
// creates a listener (a temporary endpoint of the caller's tenant,
// subscribed to the patterns of the events parameter, "*" by default,
// with a new signing secret) and hands the WebSocket stream to the
// listener hub, which deletes the listener when the stream ends. The
// listener counts as one of the tenant's endpoints while it lives.
func (s *Server) listen(w http.ResponseWriter, r *http.Request, tenant string) {
	if s.Listeners == nil || s.RelayURL == "" {
		writeProblem(w, problem(http.StatusNotFound, "hookstream listen is not served by this instance"))
		return
	}
	types := []string{"*"}
	q := r.URL.Query()
	if q.Has("events") {
		types = strings.Split(q.Get("events"), ",")
		if p := validateEventTypes(types); p != nil {
			writeProblem(w, queryProblem("events", strings.TrimPrefix(p.Detail, "event_types: ")))
			return
		}
	}
	// A client that reconnects keeps its secret: the receiver it feeds
	// need not learn a new one.
	var secret string
	if given := r.Header.Values(ListenerSecretHeader); len(given) > 0 {
		secret = given[0]
		if _, err := delivery.ParseSecret(secret); err != nil || len(given) > 1 || !listenerSecret.MatchString(secret) {
			writeProblem(w, headerProblem(ListenerSecretHeader, "must be one whsec_ signing secret: whsec_ and the standard base64 of 24 to 64 bytes"))
			return
		}
	} else {
		var err error
		if secret, err = delivery.GenerateSecret(); err != nil {
			s.internal(w, r, "listen", err)
			return
		}
	}
	if !isWebSocket(r) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		writeProblem(w, problem(http.StatusUpgradeRequired, "GET /v1/listen is a WebSocket stream: use `hookstream listen`, or a WebSocket client"))
		return
	}
	id := schema.NewID("ep_")
	ep, err := s.Store.CreateEndpoint(r.Context(), schema.NewEndpoint{
		ID: id, Tenant: tenant, URL: "listen:" + id, DisplayURL: "listen:" + id,
		Description: "hookstream listen: removed when its stream ends", EventTypes: types, Secret: secret,
		Timeout: s.DefaultTimeout, MaxPerTenant: s.MaxEndpoints, RelayURL: s.RelayURL,
	})
	switch {
	case errors.Is(err, schema.ErrLimitReached):
		writeProblem(w, problem(http.StatusConflict, "tenant "+strconv.Quote(tenant)+" already has "+
			strconv.Itoa(s.MaxEndpoints)+" endpoints, the most allowed (a listener counts as one)"))
		return
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	case err != nil:
		s.internal(w, r, "listen", err)
		return
	}
	s.changed(r, ep.ID)
	s.Listeners.Serve(w, r, listener.Session{ID: ep.ID, Tenant: tenant, Secret: secret, EventTypes: types})
	s.fanout.reset()
}

// ListenerSecretHeader names the signing secret a `hookstream listen`
// client asks its listener to use (a reconnection keeps its secret);
// without it, the listener gets a new one.
const ListenerSecretHeader = "X-Hookstream-Listener-Secret"

// listenerSecret is the shape the document gives ListenerSecretHeader.
var listenerSecret = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{32,88}={0,2}$`)

// isWebSocket reports whether r asks to upgrade to a WebSocket.
func isWebSocket(r *http.Request) bool {
	upgrade := false
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			upgrade = upgrade || strings.EqualFold(strings.TrimSpace(t), "upgrade")
		}
	}
	return upgrade && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
