package listener

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Store is what the Hub needs of Postgres.
type Store interface {
	// TouchListener records that the listener's stream is alive; false
	// when the listener is gone (deleted through the API, or reaped).
	TouchListener(ctx context.Context, id string) (bool, error)
	// DeleteListener removes a listener (an endpoint); its history stays.
	DeleteListener(ctx context.Context, id string) error
	// ReapListeners removes the listeners not touched since before, and
	// returns how many.
	ReapListeners(ctx context.Context, before time.Time) (int, error)
}

// Session is a listener the API created for a stream.
type Session struct {
	ID         string // the listener's endpoint id
	Tenant     string
	Secret     string // whsec_…, sent once in the ready frame
	EventTypes []string
}

// Hub holds the streams of one API instance. Set its fields, then call Run
// in a goroutine; Serve and ServeRelay serve HTTP requests.
type Hub struct {
	Store Store
	// Token authenticates relay requests (see Token).
	Token string
	// Heartbeat is how often a stream is pinged and its listener touched
	// (default 15s); Timeout is how long a listener lives untouched before
	// any instance removes it (default 1m): a stream that died without a
	// goodbye, with its instance.
	Heartbeat, Timeout time.Duration
	// MaxResponseBody bounds the response body a result carries back
	// (default 4096).
	MaxResponseBody int
	// MaxBodyBytes bounds a relay request's body (default 8 MiB).
	MaxBodyBytes int64
	Log          *slog.Logger

	once    sync.Once
	mu      sync.Mutex
	streams map[string]*stream
	closing bool
	wg      sync.WaitGroup
}

func (h *Hub) init() {
	h.once.Do(func() {
		if h.Heartbeat <= 0 {
			h.Heartbeat = 15 * time.Second
		}
		if h.Timeout <= 0 {
			h.Timeout = time.Minute
		}
		if h.MaxResponseBody <= 0 {
			h.MaxResponseBody = 4096
		}
		if h.MaxBodyBytes <= 0 {
			h.MaxBodyBytes = 8 << 20
		}
		if h.Log == nil {
			h.Log = slog.New(slog.DiscardHandler)
		}
		h.streams = map[string]*stream{}
	})
}

// stream is one CLI's connection.
type stream struct {
	sess    Session
	conn    *websocket.Conn
	ctx     context.Context
	cancel  context.CancelCauseFunc
	next    atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan Frame
}

// errShutdown ends streams when the instance stops.
var errShutdown = errors.New("hookstream instance shutting down")

// Serve upgrades r to a WebSocket stream for the listener s, sends the
// ready frame, and carries deliveries until the CLI leaves, the stream
// dies, the listener is deleted or the hub stops; then it deletes the
// listener. It owns s from the call: the listener is deleted whatever
// happens.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, s Session) {
	h.init()
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		h.remove(s.ID)
		http.Error(w, errShutdown.Error(), http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	// Run waits for the removal too: the store closes after it.
	defer h.wg.Done()
	defer h.remove(s.ID)

	// The server's read and write deadlines stay on a hijacked
	// connection: a stream lives longer than any request.
	ctrl := http.NewResponseController(w)
	_ = ctrl.SetReadDeadline(time.Time{})
	_ = ctrl.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		h.Log.Warn("listen: websocket handshake failed", "listener", s.ID, "err", err)
		return
	}
	conn.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancelCause(context.Background())
	st := &stream{sess: s, conn: conn, ctx: ctx, cancel: cancel, pending: map[string]chan Frame{}}
	h.mu.Lock()
	h.streams[s.ID] = st
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.streams, s.ID)
		h.mu.Unlock()
	}()

	ready, _ := json.Marshal(Frame{Type: FrameReady, Listener: s.ID, Tenant: s.Tenant, Secret: s.Secret, EventTypes: s.EventTypes})
	if err := st.write(ctx, ready); err != nil {
		_ = conn.CloseNow()
		return
	}
	h.Log.Info("listener connected", "listener", s.ID, "tenant", s.Tenant)
	var wg sync.WaitGroup
	wg.Go(func() { h.heartbeat(st) })
	err = st.read()
	cancel(err)
	wg.Wait()
	_ = conn.CloseNow()
	h.Log.Info("listener disconnected", "listener", s.ID, "tenant", s.Tenant, "reason", err)
}

// Close codes the hub ends a stream with, besides 1001 (going away) when
// its instance stops.
const (
	// CloseDeleted: the listener was deleted (through the API, or reaped).
	CloseDeleted websocket.StatusCode = 4001
	// CloseBadFrame: the client sent a frame that is not a result.
	CloseBadFrame websocket.StatusCode = 4002
)

// end closes the stream with a code and a reason; the read loop then
// returns. Close waits for the client's answer (up to 5 s): it runs apart.
func (st *stream) end(code websocket.StatusCode, reason string) {
	go func() { _ = st.conn.Close(code, reason) }()
}

// read passes results to the deliveries waiting for them, until the
// stream fails or closes.
func (st *stream) read() error {
	for {
		typ, b, err := st.conn.Read(st.ctx)
		if err != nil {
			return err
		}
		var f Frame
		if typ != websocket.MessageText || json.Unmarshal(b, &f) != nil || f.Type != FrameResult {
			st.end(CloseBadFrame, "not a result frame")
			continue // until the close handshake ends the read
		}
		st.mu.Lock()
		ch, ok := st.pending[f.ID]
		delete(st.pending, f.ID)
		st.mu.Unlock()
		if ok {
			ch <- f
		}
	}
}

// heartbeat pings the CLI and touches the listener until the stream ends;
// a failed ping, or a listener gone, ends it.
func (h *Hub) heartbeat(st *stream) {
	t := time.NewTicker(h.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(st.ctx, h.Heartbeat)
		err := st.conn.Ping(pctx)
		cancel()
		if err != nil {
			h.Log.Info("listen: ping failed: stream dropped", "listener", st.sess.ID, "err", err)
			_ = st.conn.CloseNow()
			return
		}
		tctx, cancel := context.WithTimeout(st.ctx, h.Heartbeat)
		alive, err := h.Store.TouchListener(tctx, st.sess.ID)
		cancel()
		switch {
		case err != nil:
			h.Log.Warn("listen: touch listener failed", "listener", st.sess.ID, "err", err)
		case !alive:
			st.end(CloseDeleted, "listener deleted")
			return
		}
	}
}

func (st *stream) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return st.conn.Write(ctx, websocket.MessageText, b)
}

// deliver passes a request down the stream and waits for its result.
func (st *stream) deliver(ctx context.Context, req relayRequest) (Frame, error) {
	id := strconv.FormatUint(st.next.Add(1), 10)
	ch := make(chan Frame, 1)
	st.mu.Lock()
	st.pending[id] = ch
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.pending, id)
		st.mu.Unlock()
	}()
	b, err := json.Marshal(Frame{Type: FrameDelivery, ID: id, Headers: req.Headers, Body: req.Body, TimeoutMS: req.TimeoutMS})
	if err != nil {
		return Frame{}, err
	}
	if err := st.write(ctx, b); err != nil {
		return Frame{}, fmt.Errorf("listener stream: %w", err)
	}
	select {
	case f := <-ch:
		return f, nil
	case <-ctx.Done():
		return Frame{}, errors.New("listener did not answer in time")
	case <-st.ctx.Done():
		return Frame{}, errors.New("listener stream ended")
	}
}

// remove deletes a listener with a context of its own: the request's may
// be over.
func (h *Hub) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Store.DeleteListener(ctx, id); err != nil {
		h.Log.Warn("listen: delete listener failed; it will be reaped", "listener", id, "err", err)
	}
}

// ServeRelay serves a deliverer's request for a listener held here:
// POST RelayPath{tenant}/{id} with the signed webhook request. It answers
// 200 with the result frame (what the CLI's local URL answered, or an
// error), 404 when the listener's stream is not here, 401 without the
// relay token.
func (h *Hub) ServeRelay(w http.ResponseWriter, r *http.Request) {
	h.init()
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+h.Token)) != 1 {
		http.Error(w, "relay token required", http.StatusUnauthorized)
		return
	}
	var req relayRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, h.MaxBodyBytes)).Decode(&req); err != nil {
		http.Error(w, "bad relay request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	st := h.streams[r.PathValue("id")]
	h.mu.Unlock()
	if st == nil || st.sess.Tenant != r.PathValue("tenant") {
		http.Error(w, "listener not connected here", http.StatusNotFound)
		return
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > time.Minute {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	f, err := st.deliver(ctx, req)
	if err != nil {
		f = Frame{Error: err.Error()}
	}
	if len(f.Body) > h.MaxResponseBody {
		f.Body, f.Truncated = f.Body[:h.MaxResponseBody], true
	}
	f.Type, f.ID = FrameResult, ""
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f)
}

// Run removes listeners left untouched past the Timeout (their stream died
// with its instance) until ctx ends; then it closes this instance's
// streams, which delete their listeners, and waits for them.
func (h *Hub) Run(ctx context.Context) {
	h.init()
	t := time.NewTicker(h.Timeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.closing = true
			for _, st := range h.streams {
				st.end(websocket.StatusGoingAway, errShutdown.Error())
			}
			h.mu.Unlock()
			h.wg.Wait()
			return
		case <-t.C:
		}
		n, err := h.Store.ReapListeners(ctx, time.Now().Add(-h.Timeout))
		if err != nil && ctx.Err() == nil {
			h.Log.Warn("listen: reaping listeners failed", "err", err)
		}
		if n > 0 {
			h.Log.Info("listeners reaped: their streams ended without a goodbye", "count", n)
		}
	}
}
