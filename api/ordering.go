package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// OrderingStore is what the API does with ordered delivery per key (see
// docs/ordering.md): skip the head of a key, list the halted keys.
type OrderingStore interface {
	SkipOrdered(ctx context.Context, tenant, deliveryID string) (*schema.Task, error)
	HaltedKeys(ctx context.Context, tenant, endpointID string, limit int) ([]schema.HaltedKey, error)
}

type haltedKeyJSON struct {
	Key      string    `json:"key"`
	Head     string    `json:"head"`
	Sequence int64     `json:"sequence"`
	HaltedAt time.Time `json:"halted_at"`
	Blocked  int       `json:"blocked"`
}

// skipDelivery resolves the head of an ordering key by hand, without
// sending it, and queues the next delivery of its key if it was blocked.
// Repeating it is safe: a delivery the key has passed queues the head
// again only if it may not have been queued.
func (s *Server) skipDelivery(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	next, err := s.Store.SkipOrdered(r.Context(), tenant, id)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such delivery to an ordered endpoint"))
		return
	case errors.Is(err, schema.ErrNotHead):
		writeProblem(w, problem(http.StatusConflict, schema.ErrNotHead.Error()+
			": only the earliest unresolved delivery of a key, dead, parked or halted, can be skipped"))
		return
	case err != nil:
		s.internal(w, r, "skip delivery", err)
		return
	}
	if next != nil {
		ctx, cancel := context.WithTimeout(r.Context(), queueTimeout)
		defer cancel()
		if err := s.Tasks.Enqueue(ctx, []schema.Task{*next}); err != nil {
			s.Log.Error("queueing the delivery a skip released failed", "delivery_id", next.DeliveryID, "err", err)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, problem(http.StatusServiceUnavailable, "the next delivery of the key could not be queued; skip again"))
			return
		}
	}
	ds, err := s.Store.Deliveries(r.Context(), schema.DeliveryFilter{Tenant: tenant, Limit: 1, ID: id})
	if err != nil {
		s.internal(w, r, "skip delivery", err)
		return
	}
	out := deliveryJSON{ID: id, Status: string(schema.OutcomeDead)}
	if len(ds) > 0 {
		out = toDeliveryJSON(ds[0])
	}
	w.Header().Set("Location", "/v1/deliveries/"+id)
	writeJSON(w, http.StatusAccepted, out)
}

// listHaltedKeys lists an endpoint's ordering keys halted at a dead head.
func (s *Server) listHaltedKeys(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	id := r.PathValue("id")
	if _, err := s.Store.Endpoint(r.Context(), tenant, id); errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	} else if err != nil {
		s.internal(w, r, "halted keys", err)
		return
	}
	keys, err := s.Store.HaltedKeys(r.Context(), tenant, id, limit)
	if err != nil {
		s.internal(w, r, "halted keys", err)
		return
	}
	out := struct {
		Data []haltedKeyJSON `json:"data"`
	}{Data: []haltedKeyJSON{}}
	for _, k := range keys {
		out.Data = append(out.Data, haltedKeyJSON{Key: k.Key, Head: k.Head, Sequence: k.Seq, HaltedAt: k.HaltedAt, Blocked: k.Blocked})
	}
	writeJSON(w, http.StatusOK, out)
}
